package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// signDecision signs the decision as a SLSA Verification Summary Attestation, stores the
// envelope, attaches it to the image (best effort: the promoter makes sure it reaches
// the destination) and announces it, so the ledger verifies and records it like any
// other attestation.
func (s *Service) signDecision(ctx context.Context, req *eventsv1.PromotionRequested, d outcome, decidedAt time.Time) (*eventsv1.BlobRef, error) {
	in := attestation.VSAInput{
		VerifierID:        VerifierID,
		Image:             req.GetImage(),
		Digest:            req.GetDigest(),
		TimeVerified:      decidedAt,
		PolicyURI:         policyURI(d.PolicyName),
		PolicyDigest:      d.PolicyDigest,
		InputAttestations: d.AttestationDigests,
		Passed:            d.Allowed,
		Decision: attestation.VSADecision{
			RequestID:   req.GetRequestId(),
			Destination: req.GetDestination(),
			PolicyName:  d.PolicyName,
			Reasons:     d.Reasons,
			RecordedAt:  d.recorded,
		},
	}
	for _, r := range d.Requirements {
		in.Decision.Requirements = append(in.Decision.Requirements, attestation.VSARequirement{
			Name: r.Name, PredicateType: r.PredicateType, Status: string(r.Status), Code: r.Code,
			Reason: r.Reason, AttestationDigest: r.AttestationDigest, KeyIDs: r.KeyIDs, Required: r.Required,
		})
	}
	stmt, err := attestation.VSA(in)
	if err != nil {
		return nil, fmt.Errorf("build VSA: %w", err)
	}
	env, err := s.signer.Sign(ctx, verify.PayloadTypeInToto, stmt)
	if err != nil {
		return nil, fmt.Errorf("sign VSA: %w", err)
	}
	ref, err := s.blobs.Put(ctx, attestation.MediaTypeDSSE, env)
	if err != nil {
		return nil, fmt.Errorf("store VSA: %w", err)
	}
	attachment := ""
	if s.o.attach {
		if img, err := oci.ParsePinned(req.GetImage()); err == nil {
			att, err := oci.Attach(ctx, img, []oci.Attachment{{Envelope: env, PredicateType: attestation.PredicateVSAV1}}, s.o.remote...)
			if err != nil {
				s.o.log.WarnContext(ctx, "could not attach the decision's VSA to the image; the promoter attaches it at the destination",
					"image", req.GetImage(), "vsa", ref.Digest, "error", err)
			} else {
				attachment = att.Name()
			}
		}
	}
	id := sha256.Sum256([]byte(events.TypeAttestationSigned + "\x00" + ref.Digest))
	if _, err := s.bus.Publish(ctx, events.Event{
		Type: events.TypeAttestationSigned, Subject: req.GetDigest(), ID: hex.EncodeToString(id[:]),
		Data: &eventsv1.AttestationSigned{
			Image: req.GetImage(), Digest: req.GetDigest(), PredicateType: attestation.PredicateVSAV1,
			Envelope: &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size},
			KeyId:    s.signer.KeyID(), Attachment: attachment,
		},
	}); err != nil {
		return nil, fmt.Errorf("announce VSA: %w", err)
	}
	return &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}, nil
}

// policyURI names a policy in a VSA; its digest is recorded beside it.
func policyURI(name string) string {
	if name == "" {
		return "urn:custody:policy:none"
	}
	return "urn:custody:policy:" + name
}

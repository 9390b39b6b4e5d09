package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// signDecision signs the decision as a SLSA Verification Summary Attestation, stores the
// envelope and announces it, so the ledger verifies and records it like any other
// attestation. With WithRegistry, the attach consumer attaches it to the image once the
// decision is published (best effort: the promoter makes sure it reaches the
// destination).
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
	if s.o.registry != nil {
		s.signed.Add(ref.Digest, signedVSA{envelope: env, subject: req.GetDigest()})
		// Attached by the attach consumer once the decision is published (attach.go).
		attachment = attachmentRef(req.GetImage())
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

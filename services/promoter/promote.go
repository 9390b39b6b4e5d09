package promoter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// ErrRefused marks decisions the promoter will not carry out: invalid, or relying on
// evidence that does not verify.
var ErrRefused = errors.New("promotion refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// handle carries out one decision. It returns an error only to have the decision
// retried (a transient failure with deliveries left, or a failure to publish).
func (s *Service) handle(ctx context.Context, msg *events.Message) error {
	var d eventsv1.PromotionDecided
	if err := msg.Decode(&d); err != nil {
		return err
	}
	if d.GetDecision() != eventsv1.Decision_DECISION_ALLOWED {
		s.o.log.DebugContext(ctx, "decision is not an allowance; nothing to do",
			"request_id", d.GetRequestId(), "decision", d.GetDecision().String())
		return nil
	}
	start := time.Now()
	done, err := s.promote(ctx, msg.Subject, &d)
	if err != nil && transient(err) && msg.Delivered < uint64(MaxDeliver) {
		return fmt.Errorf("promoter: request %s (attempt %d of %d): %w", d.GetRequestId(), msg.Delivered, MaxDeliver, err)
	}
	subject := ""
	if blob.ValidDigest(d.GetDigest()) {
		subject = d.GetDigest()
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err != nil {
		msgErr := err.Error()
		if len(msgErr) > 4096 {
			msgErr = msgErr[:4096] + "…"
		}
		_, perr := s.bus.Publish(pctx, events.Event{
			Type:    events.TypePromotionFailed,
			Subject: subject,
			ID:      outcomeEventID(events.TypePromotionFailed, msg.ID),
			Data: &eventsv1.PromotionFailed{
				RequestId: d.GetRequestId(), Image: d.GetImage(), Digest: d.GetDigest(),
				Destination: d.GetDestination(), Error: msgErr,
			},
		})
		if perr != nil {
			return fmt.Errorf("promoter: publish failure of request %s: %w", d.GetRequestId(), perr)
		}
		s.o.log.WarnContext(ctx, "promotion failed", "request_id", d.GetRequestId(), "digest", d.GetDigest(),
			"destination", d.GetDestination(), "error", err, "refused", errors.Is(err, ErrRefused))
		return nil
	}
	if _, perr := s.bus.Publish(pctx, events.Event{
		Type:    events.TypePromotionCompleted,
		Subject: subject,
		ID:      outcomeEventID(events.TypePromotionCompleted, msg.ID),
		Data:    done,
	}); perr != nil {
		return fmt.Errorf("promoter: publish completion of request %s: %w", d.GetRequestId(), perr)
	}
	s.o.log.InfoContext(ctx, "promotion completed", "request_id", d.GetRequestId(), "digest", d.GetDigest(),
		"destination", done.GetDestinationImage(), "attachments", done.GetAttachmentsCopied(), "took", time.Since(start).String())
	return nil
}

// promote checks the decision's signed VSA and the evidence it names, copies the image
// with its attachments to the destination by digest, makes sure the evidence and the
// VSA are attached there and verify, and only then writes the destination tag.
func (s *Service) promote(ctx context.Context, eventSubject string, d *eventsv1.PromotionDecided) (*eventsv1.PromotionCompleted, error) {
	digest := d.GetDigest()
	if !blob.ValidDigest(digest) {
		return nil, refuse("decision digest %.80q is not sha256:<64 lowercase hex>", digest)
	}
	if eventSubject != "" && eventSubject != digest {
		return nil, refuse("event subject %.80q does not match the decision's digest %s", eventSubject, digest)
	}
	img, err := oci.ParsePinned(d.GetImage())
	if err != nil {
		return nil, refuse("image: %v", err)
	}
	if img.DigestStr() != digest {
		return nil, refuse("image %s is not pinned by the decision's digest %s", img, digest)
	}
	repo, tag, err := oci.ParseDestination(d.GetDestination())
	if err != nil {
		return nil, refuse("destination: %v", err)
	}
	envs := d.GetAttestationDigests()
	if len(envs) == 0 {
		return nil, refuse("the decision lists no attestations; a promotion needs verified evidence")
	}
	if len(envs) > MaxAttestations {
		return nil, refuse("the decision lists %d attestations, more than %d", len(envs), MaxAttestations)
	}
	vsa, vsaEnv, err := s.checkVSA(ctx, d)
	if err != nil {
		return nil, err
	}
	results := make([]*verify.Result, 0, len(envs))
	evidence := make([]oci.Attachment, 0, len(envs)+1)
	for _, e := range envs {
		if !blob.ValidDigest(e) {
			return nil, refuse("attestation digest %.80q is not sha256:<hex>", e)
		}
		data, err := s.getBlob(ctx, e)
		if err != nil {
			return nil, err
		}
		// Keys are checked at the time the ledger recorded the envelope, which the gate
		// signed into the VSA: evidence recorded before a key was retired still counts.
		res, err := s.verifier.Verify(ctx, data, digest, verify.SignedAt(vsa.Decision.RecordedAt[e]))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, refuse("evidence %s does not verify for %s: %v", e, digest, err)
		}
		results = append(results, res)
		evidence = append(evidence, oci.Attachment{Envelope: data, PredicateType: res.PredicateType})
	}
	evidence = append(evidence, oci.Attachment{Envelope: vsaEnv, PredicateType: attestation.PredicateVSAV1})
	if s.o.policies != nil {
		if err := s.recheck(ctx, d, repo.Name(), results); err != nil {
			return nil, err
		}
	}
	// The image, every platform manifest, and the attachments, by digest; no tag yet.
	copied, err := oci.Copy(ctx, img, repo, "", s.o.remote...)
	if err != nil {
		return nil, err
	}
	attached, err := s.carryEvidence(ctx, copied.Digest, evidence)
	if err != nil {
		return nil, err
	}
	if tag != "" {
		if err := oci.Tag(ctx, copied.Digest, tag, s.o.remote...); err != nil {
			return nil, fmt.Errorf("tag %s: %w", tag, err)
		}
	}
	return &eventsv1.PromotionCompleted{
		RequestId:         d.GetRequestId(),
		Image:             d.GetImage(),
		Digest:            digest,
		Destination:       d.GetDestination(),
		DestinationImage:  copied.Digest.String(),
		AttachmentsCopied: int32(min(copied.Attachments+attached, 1<<20)),
	}, nil
}

func (s *Service) getBlob(ctx context.Context, digest string) ([]byte, error) {
	data, err := s.blobs.Get(ctx, digest)
	switch {
	case errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrCorrupt):
		return nil, refuse("evidence %s: %v", digest, err)
	case err != nil:
		return nil, fmt.Errorf("evidence %s: %w: %w", digest, errStore, err)
	}
	return data, nil
}

// checkVSA verifies the decision's VSA with the decision keys and checks that it says
// what the event says: the event itself is not believed.
func (s *Service) checkVSA(ctx context.Context, d *eventsv1.PromotionDecided) (*attestation.ParsedVSA, []byte, error) {
	ref := d.GetVsa().GetDigest()
	if ref == "" {
		return nil, nil, refuse("the decision carries no signed VSA; only the gate's signed decisions are carried out")
	}
	if !blob.ValidDigest(ref) {
		return nil, nil, refuse("VSA digest %.80q is not sha256:<hex>", ref)
	}
	data, err := s.getBlob(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	res, err := s.decisions.Verify(ctx, data, d.GetDigest())
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, refuse("the decision's VSA %s is not signed by a trusted decision key: %v", ref, err)
	}
	vsa, err := attestation.ParseVSA(res.Payload)
	if err != nil {
		return nil, nil, refuse("the decision's VSA %s: %v", ref, err)
	}
	now := s.o.now()
	switch {
	case !vsa.Passed:
		return nil, nil, refuse("the VSA %s records a FAILED verification", ref)
	case vsa.Digest != d.GetDigest():
		return nil, nil, refuse("the VSA %s is about %s, not %s", ref, vsa.Digest, d.GetDigest())
	case vsa.Decision.Destination != d.GetDestination():
		return nil, nil, refuse("the VSA %s allows destination %.200q, not %.200q", ref, vsa.Decision.Destination, d.GetDestination())
	case vsa.Decision.RequestID != d.GetRequestId():
		return nil, nil, refuse("the VSA %s decides request %.80q, not %.80q", ref, vsa.Decision.RequestID, d.GetRequestId())
	case vsa.PolicyDigest != d.GetPolicyDigest():
		return nil, nil, refuse("the VSA %s names policy digest %s, the event %.80q", ref, vsa.PolicyDigest, d.GetPolicyDigest())
	case !sameSet(vsa.InputAttestations, d.GetAttestationDigests()):
		return nil, nil, refuse("the VSA %s relied on other attestations than the event lists", ref)
	case vsa.TimeVerified.After(now.Add(maxClockSkew)):
		return nil, nil, refuse("the VSA %s was verified at %s, in the future", ref, vsa.TimeVerified.Format(time.RFC3339))
	case now.Sub(vsa.TimeVerified) > s.o.maxDecisionAge:
		return nil, nil, refuse("the VSA %s is from %s, older than %s: request the promotion again", ref,
			vsa.TimeVerified.Format(time.RFC3339), s.o.maxDecisionAge)
	}
	for _, e := range vsa.InputAttestations {
		at := vsa.Decision.RecordedAt[e]
		switch {
		case at.IsZero():
			return nil, nil, refuse("the VSA %s gives no recorded time for %s", ref, e)
		case at.After(vsa.TimeVerified.Add(maxClockSkew)):
			return nil, nil, refuse("the VSA %s says %s was recorded at %s, after the decision at %s", ref, e,
				at.Format(time.RFC3339), vsa.TimeVerified.Format(time.RFC3339))
		}
	}
	return vsa, data, nil
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y)) && len(a) == len(b)
}

// carryEvidence makes sure every envelope the decision relied on, and its VSA, is
// attached to the destination image, then checks the destination's attachments hold
// exactly the verified bytes. It returns how many envelopes it had to attach.
func (s *Service) carryEvidence(ctx context.Context, dst name.Digest, evidence []oci.Attachment) (int, error) {
	there, err := s.attached(ctx, dst)
	if err != nil {
		return 0, err
	}
	var missing []oci.Attachment
	for _, a := range evidence {
		if _, ok := there[blob.Digest(a.Envelope)]; !ok {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		if _, err := s.o.registry.Attach(ctx, dst, missing); err != nil {
			return 0, fmt.Errorf("attach evidence at %s: %w", dst, err)
		}
		// Re-read what a consumer at the destination now reads.
		if there, err = s.attached(ctx, dst); err != nil {
			return 0, err
		}
	}
	for _, a := range evidence {
		d := blob.Digest(a.Envelope)
		env, ok := there[d]
		if !ok {
			return 0, fmt.Errorf("evidence %s is not attached at %s after attaching it", d, dst)
		}
		if !bytes.Equal(env, a.Envelope) {
			return 0, refuse("evidence %s at %s differs from the verified envelope", d, dst)
		}
	}
	return len(missing), nil
}

// attached reads the destination's attestation layers, by layer digest.
func (s *Service) attached(ctx context.Context, dst name.Digest) (map[string][]byte, error) {
	stored, err := oci.ReadAttachments(ctx, dst, s.o.remote...)
	if err != nil {
		return nil, fmt.Errorf("read evidence at %s: %w", dst, err)
	}
	out := make(map[string][]byte, len(stored))
	for _, a := range stored {
		out[a.Digest] = a.Envelope
	}
	return out, nil
}

// recheck re-evaluates the policy governing the destination over the re-verified
// evidence: it must be the policy the decision names, and it must allow.
func (s *Service) recheck(ctx context.Context, d *eventsv1.PromotionDecided, destination string, results []*verify.Result) error {
	pol, err := s.o.policies.For(destination)
	if err != nil {
		return refuse("policy: %v", err)
	}
	if pol.Digest() != d.GetPolicyDigest() {
		return refuse("the decision names policy %.80q with digest %.80q, but %s (%s) governs %s",
			d.GetPolicyName(), d.GetPolicyDigest(), pol.Name(), pol.Digest(), destination)
	}
	dec := pol.Evaluate(ctx, policy.Input{Digest: d.GetDigest(), Destination: destination, Attestations: results, Now: s.o.now()})
	if !dec.Allowed {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return refuse("policy %s does not allow it over the listed evidence: %s", pol.Name(), strings.Join(dec.Reasons, "; "))
	}
	return nil
}

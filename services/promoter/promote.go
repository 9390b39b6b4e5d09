package promoter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// promote checks the decision and its evidence, then copies.
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
	results := make([]*verify.Result, 0, len(envs))
	for _, e := range envs {
		if !blob.ValidDigest(e) {
			return nil, refuse("attestation digest %.80q is not sha256:<hex>", e)
		}
		data, err := s.blobs.Get(ctx, e)
		switch {
		case errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrCorrupt):
			return nil, refuse("evidence %s: %v", e, err)
		case err != nil:
			return nil, fmt.Errorf("evidence %s: %w: %w", e, errStore, err)
		}
		res, err := s.verifier.Verify(ctx, data, digest)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, refuse("evidence %s does not verify for %s: %v", e, digest, err)
		}
		results = append(results, res)
	}
	if s.o.policies != nil {
		if err := s.recheck(ctx, d, repo.Name(), results); err != nil {
			return nil, err
		}
	}
	copied, err := oci.Copy(ctx, img, repo, tag, s.o.remote...)
	if err != nil {
		return nil, err
	}
	return &eventsv1.PromotionCompleted{
		RequestId:         d.GetRequestId(),
		Image:             d.GetImage(),
		Digest:            digest,
		Destination:       d.GetDestination(),
		DestinationImage:  copied.Digest.String(),
		AttachmentsCopied: int32(min(copied.Attachments, 1<<20)),
	}, nil
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
	dec := pol.Evaluate(ctx, policy.Input{Digest: d.GetDigest(), Destination: destination, Attestations: results})
	if !dec.Allowed {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return refuse("policy %s does not allow it over the listed evidence: %s", pol.Name(), strings.Join(dec.Reasons, "; "))
	}
	return nil
}

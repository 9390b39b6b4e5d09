package gate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// handle decides one request and publishes the decision. Only a failure to publish is
// returned (and so retried): every other failure is a published denial.
func (s *Service) handle(ctx context.Context, msg *events.Message) error {
	var req eventsv1.PromotionRequested
	if err := msg.Decode(&req); err != nil {
		return err // undecodable: dead-lettered; with no request there is nothing to deny
	}
	start := time.Now()
	d := s.decide(ctx, msg.Subject, &req)
	if !d.Allowed && ctx.Err() != nil && msg.Delivered < maxDeliver {
		// Interrupted (shutdown) before the evidence wait ended: decide again after
		// redelivery rather than deny because of a restart. The last attempt denies.
		return fmt.Errorf("gate: request %s interrupted: %w", req.GetRequestId(), ctx.Err())
	}
	out := &eventsv1.PromotionDecided{
		RequestId:          req.GetRequestId(),
		Image:              req.GetImage(),
		Digest:             req.GetDigest(),
		Destination:        req.GetDestination(),
		Decision:           eventsv1.Decision_DECISION_DENIED,
		Reasons:            d.Reasons,
		PolicyName:         d.PolicyName,
		PolicyDigest:       d.PolicyDigest,
		AttestationDigests: d.AttestationDigests,
		DecidedAt:          timestamppb.New(s.o.now()),
	}
	if d.Allowed {
		out.Decision = eventsv1.Decision_DECISION_ALLOWED
	}
	// The decision is published even when the handler's context ended: the request was
	// waited on and decided (a denial, if interrupted), and must not be left unanswered.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	subject := ""
	if blob.ValidDigest(req.GetDigest()) {
		subject = req.GetDigest()
	}
	if _, err := s.bus.Publish(pctx, events.Event{
		Type:    events.TypePromotionDecided,
		Subject: subject,
		ID:      decisionEventID(msg.ID),
		Data:    out,
	}); err != nil {
		return fmt.Errorf("gate: publish decision for request %s: %w", req.GetRequestId(), err)
	}
	s.o.log.InfoContext(ctx, "promotion decided",
		"request_id", req.GetRequestId(), "digest", req.GetDigest(), "destination", req.GetDestination(),
		"decision", out.Decision.String(), "policy", d.PolicyName, "policy_digest", d.PolicyDigest,
		"reasons", d.Reasons, "took", time.Since(start).String())
	return nil
}

// decide validates the request, then evaluates its destination's policy over verified
// evidence until it is allowed, denied for good, or the evidence wait ends.
func (s *Service) decide(ctx context.Context, eventSubject string, req *eventsv1.PromotionRequested) policy.Decision {
	digest := req.GetDigest()
	if !blob.ValidDigest(digest) {
		return policy.Deny(fmt.Sprintf("request: digest %q is not sha256:<64 lowercase hex>", digest))
	}
	if eventSubject != "" && eventSubject != digest {
		return policy.Deny(fmt.Sprintf("request: event subject %s does not match digest %s", eventSubject, digest))
	}
	img, err := oci.ParsePinned(req.GetImage())
	if err != nil {
		return policy.Deny("request: image: " + err.Error())
	}
	if img.DigestStr() != digest {
		return policy.Deny(fmt.Sprintf("request: image %s is not pinned by digest %s", req.GetImage(), digest))
	}
	repo, _, err := oci.ParseDestination(req.GetDestination())
	if err != nil {
		return policy.Deny("request: destination: " + err.Error())
	}
	pol, err := s.policies.For(repo.Name())
	if err != nil {
		return policy.Deny("policy: " + err.Error())
	}

	deadline := time.Now().Add(s.o.wait)
	ev := newEvidenceSet()
	for {
		ev.refresh(ctx, s, digest)
		d := pol.Evaluate(ctx, policy.Input{Digest: digest, Destination: repo.Name(), Attestations: ev.results()})
		if d.Allowed {
			return d
		}
		var stop string
		switch {
		case !d.Pending():
		case ctx.Err() != nil:
			stop = "evidence wait interrupted: " + ctx.Err().Error()
		case !time.Now().Before(deadline):
			stop = fmt.Sprintf("evidence wait of %s ended with requirements unmet", s.o.wait)
		default:
			t := time.NewTimer(min(s.o.poll, time.Until(deadline)))
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if stop != "" {
			d.Reasons = append(d.Reasons, stop)
		}
		d.Reasons = append(d.Reasons, ev.problems()...)
		return d
	}
}

// evidenceSet is what one decision has learned about the image's envelopes.
type evidenceSet struct {
	verified map[string]*verify.Result
	// rejected maps envelopes that failed verification to why; they are not retried.
	rejected map[string]string
	// lookup is the latest problem finding or fetching evidence, which may clear.
	lookup   map[string]string
	listErr  string
	overflow int
}

func newEvidenceSet() *evidenceSet {
	return &evidenceSet{verified: map[string]*verify.Result{}, rejected: map[string]string{}, lookup: map[string]string{}}
}

func (e *evidenceSet) refresh(ctx context.Context, s *Service, digest string) {
	digests, err := s.evidence.EnvelopeDigests(ctx, digest)
	if err != nil {
		e.listErr = "evidence: listing envelopes: " + err.Error()
		return
	}
	e.listErr = ""
	slices.Sort(digests)
	digests = slices.Compact(digests)
	if len(digests) > MaxEnvelopes {
		e.overflow = len(digests) - MaxEnvelopes
		digests = digests[:MaxEnvelopes]
	}
	for _, d := range digests {
		if _, ok := e.verified[d]; ok {
			continue
		}
		if _, ok := e.rejected[d]; ok {
			continue
		}
		if !blob.ValidDigest(d) {
			e.rejected[d] = "not a sha256:<hex> digest"
			continue
		}
		data, err := s.blobs.Get(ctx, d)
		if err != nil {
			if errors.Is(err, blob.ErrCorrupt) {
				e.rejected[d] = err.Error()
			} else {
				e.lookup[d] = "fetch: " + err.Error()
			}
			continue
		}
		delete(e.lookup, d)
		res, err := s.verifier.Verify(ctx, data, digest)
		if err != nil {
			if ctx.Err() == nil {
				e.rejected[d] = err.Error()
			}
			continue
		}
		e.verified[d] = res
	}
}

// results are the verified envelopes, in digest order.
func (e *evidenceSet) results() []*verify.Result {
	keys := make([]string, 0, len(e.verified))
	for k := range e.verified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*verify.Result, len(keys))
	for i, k := range keys {
		out[i] = e.verified[k]
	}
	return out
}

// problems explains evidence that could not be used, for a denial's reasons.
func (e *evidenceSet) problems() []string {
	var out []string
	if e.listErr != "" {
		out = append(out, e.listErr)
	}
	for _, group := range []struct {
		m    map[string]string
		verb string
	}{{e.rejected, "rejected"}, {e.lookup, "unavailable"}} {
		keys := make([]string, 0, len(group.m))
		for k := range group.m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name := k
			if len(name) > 80 {
				name = name[:80] + "…"
			}
			out = append(out, fmt.Sprintf("evidence %s %s: %s", name, group.verb, group.m[k]))
		}
	}
	if e.overflow > 0 {
		out = append(out, fmt.Sprintf("evidence: %d envelopes beyond the first %d were not considered", e.overflow, MaxEnvelopes))
	}
	return out
}

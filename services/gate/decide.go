package gate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// handle decides one request, signs the decision as a VSA and publishes it. Only a
// failure to sign or publish is returned (and so retried): every other failure is a
// published denial.
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
	decidedAt := s.o.now().UTC()
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
		DecidedAt:          timestamppb.New(decidedAt),
		Requirements:       requirementOutcomes(d.Requirements),
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
		vsa, err := s.signDecision(pctx, &req, d, decidedAt)
		switch {
		case err == nil:
			out.Vsa = vsa
		case msg.Delivered < maxDeliver:
			return fmt.Errorf("gate: request %s: %w", req.GetRequestId(), err)
		default:
			// Out of attempts: an unsigned decision can only be a denial.
			out.Decision = eventsv1.Decision_DECISION_DENIED
			out.AttestationDigests = nil
			out.Reasons = append(out.Reasons, "decision could not be signed: "+err.Error())
		}
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
		"vsa", out.GetVsa().GetDigest(), "reasons", out.Reasons, "took", time.Since(start).String())
	return nil
}

func requirementOutcomes(rs []policy.RequirementResult) []*eventsv1.RequirementOutcome {
	out := make([]*eventsv1.RequirementOutcome, len(rs))
	for i, r := range rs {
		out[i] = &eventsv1.RequirementOutcome{
			Name: r.Name, PredicateType: r.PredicateType, Status: string(r.Status), Code: r.Code,
			Reason: r.Reason, Required: r.Required, AttestationDigest: r.AttestationDigest, KeyIds: r.KeyIDs,
		}
	}
	return out
}

// outcome is a decision and the recorded time of each envelope it relied on, which the
// VSA carries so that the promoter checks key windows at the same times.
type outcome struct {
	policy.Decision
	recorded map[string]time.Time
}

func deny(reason string) outcome { return outcome{Decision: policy.Deny(reason)} }

// decide validates the request, then evaluates its destination's policy over verified
// evidence until it is allowed, denied for good, or the evidence wait ends.
func (s *Service) decide(ctx context.Context, eventSubject string, req *eventsv1.PromotionRequested) outcome {
	digest := req.GetDigest()
	if !blob.ValidDigest(digest) {
		return deny(fmt.Sprintf("request: digest %q is not sha256:<64 lowercase hex>", digest))
	}
	if eventSubject != "" && eventSubject != digest {
		return deny(fmt.Sprintf("request: event subject %s does not match digest %s", eventSubject, digest))
	}
	img, err := oci.ParsePinned(req.GetImage())
	if err != nil {
		return deny("request: image: " + err.Error())
	}
	if img.DigestStr() != digest {
		return deny(fmt.Sprintf("request: image %s is not pinned by digest %s", req.GetImage(), digest))
	}
	repo, _, err := oci.ParseDestination(req.GetDestination())
	if err != nil {
		return deny("request: destination: " + err.Error())
	}
	pol, err := s.policies.For(repo.Name())
	if err != nil {
		return deny("policy: " + err.Error())
	}
	relevant := map[string]bool{}
	for _, r := range pol.Requirements() {
		relevant[r.PredicateType] = true
	}

	deadline := time.Now().Add(s.o.wait)
	ev := newEvidenceSet()
	for {
		envs := ev.list(ctx, s, digest, relevant)
		key := decisionKey{subject: digest, policyDigest: pol.Digest(), setDigest: setDigest(envs)}
		if ev.listErr == "" {
			if d, ok := s.cachedDecision(key, s.o.now()); ok {
				return d
			}
		}
		ectx, cancel := context.WithTimeout(ctx, s.o.timeout)
		ev.check(ectx, s, digest, envs)
		d := pol.Evaluate(ectx, policy.Input{Digest: digest, Destination: repo.Name(), Attestations: ev.results(), Contents: ev.contents, Now: s.o.now()})
		timedOut := ectx.Err() != nil && ctx.Err() == nil
		cancel()
		out := outcome{Decision: d, recorded: ev.recordedTimes(d.AttestationDigests)}
		if d.Allowed {
			s.storeDecision(key, out, s.o.now())
			return out
		}
		var stop string
		switch {
		case timedOut:
			stop = fmt.Sprintf("evaluation exceeded the decision timeout of %s", s.o.timeout)
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
			out.Reasons = append(out.Reasons, stop)
		}
		out.Reasons = append(out.Reasons, ev.problems()...)
		if stop == "" && ev.listErr == "" && len(ev.lookup) == 0 {
			// Denied for good on complete evidence: the same evidence denies again.
			s.storeDecision(key, out, s.o.now())
		}
		return out
	}
}

// evidenceSet is what one decision has learned about the image's envelopes.
type evidenceSet struct {
	verified map[string]*verify.Result
	contents map[string]*policy.Content
	// rejected maps envelopes that failed verification to why; they are not retried.
	rejected map[string]string
	// lookup is the latest problem finding or fetching evidence, which may clear.
	lookup   map[string]string
	recorded map[string]time.Time
	listErr  string
	overflow int
}

func newEvidenceSet() *evidenceSet {
	return &evidenceSet{
		verified: map[string]*verify.Result{}, contents: map[string]*policy.Content{}, rejected: map[string]string{},
		lookup: map[string]string{}, recorded: map[string]time.Time{},
	}
}

// list asks the evidence source for the image's envelopes and keeps those the policy
// could use (by recorded predicate type), sorted by digest and bounded. On error it
// remembers the error and returns the envelopes it saw last.
func (e *evidenceSet) list(ctx context.Context, s *Service, digest string, relevant map[string]bool) []Envelope {
	all, err := s.evidence.Envelopes(ctx, digest)
	if err != nil {
		e.listErr = "evidence: listing envelopes: " + err.Error()
		var last []Envelope
		for d, t := range e.recorded {
			last = append(last, Envelope{Digest: d, RecordedAt: t})
		}
		slices.SortFunc(last, func(a, b Envelope) int { return strings.Compare(a.Digest, b.Digest) })
		return last
	}
	e.listErr = ""
	envs := make([]Envelope, 0, len(all))
	for _, env := range all {
		if env.PredicateType != "" && !relevant[env.PredicateType] {
			continue
		}
		envs = append(envs, env)
	}
	slices.SortFunc(envs, func(a, b Envelope) int {
		if c := strings.Compare(a.Digest, b.Digest); c != 0 {
			return c
		}
		return a.RecordedAt.Compare(b.RecordedAt)
	})
	// One envelope recorded twice counts once, at its earliest recorded time.
	envs = slices.CompactFunc(envs, func(a, b Envelope) bool { return a.Digest == b.Digest })
	e.overflow = 0
	if len(envs) > MaxEnvelopes {
		e.overflow = len(envs) - MaxEnvelopes
		envs = envs[:MaxEnvelopes]
	}
	return envs
}

// check verifies the envelopes not verified or rejected yet, each at its recorded time.
// Those not in the verification cache are fetched and verified concurrently (a decision
// waits for the slowest, not for their sum); their outcomes are taken in list order.
func (e *evidenceSet) check(ctx context.Context, s *Service, digest string, envs []Envelope) {
	type work struct {
		env     Envelope
		key     checkKey
		c       checked
		miss    string // a fetch that failed for now (lookup); empty otherwise
		corrupt string // the blob store's copy does not match its digest
		drop    bool   // the context ended: neither verified nor rejected
	}
	var todo []*work
	for _, env := range envs {
		d := env.Digest
		if _, ok := e.verified[d]; ok {
			continue
		}
		if _, ok := e.rejected[d]; ok {
			continue
		}
		switch {
		case !blob.ValidDigest(d):
			e.rejected[d] = "not a sha256:<hex> digest"
			continue
		case env.RecordedAt.IsZero():
			e.rejected[d] = "the evidence source gave no recorded time, so the signing key's validity cannot be checked"
			continue
		case env.RecordedAt.After(s.o.now().Add(policy.ClockSkew)):
			// A recorded time ahead of the clock would check the signing key's validity
			// at a time that has not come (a key not yet valid) and date the evidence
			// after now (stretching maxAge).
			e.rejected[d] = fmt.Sprintf("the evidence source says it was recorded at %s, in the future (now %s)",
				env.RecordedAt.UTC().Format(time.RFC3339), s.o.now().UTC().Format(time.RFC3339))
			continue
		}
		key := checkKey{envelope: d, subject: digest, recordedAt: env.RecordedAt.UnixNano()}
		if c, ok := s.cachedCheck(key); ok {
			e.take(d, env.RecordedAt, c)
			continue
		}
		if slices.ContainsFunc(todo, func(w *work) bool { return w.env.Digest == d }) {
			continue // listed twice: verified once
		}
		todo = append(todo, &work{env: env, key: key})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, checkConcurrency)
	for _, w := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			data, err := s.blobs.Get(ctx, w.env.Digest)
			if err != nil {
				if errors.Is(err, blob.ErrCorrupt) {
					w.corrupt = err.Error()
				} else {
					w.miss = "fetch: " + err.Error()
				}
				return
			}
			res, err := s.verifier.Verify(ctx, data, digest, verify.SignedAt(w.env.RecordedAt))
			switch {
			case err == nil:
				// Read the content here too, concurrently with the other envelopes,
				// rather than in the policy's evaluation, one after another.
				w.c = checked{res: res, content: policy.ReadContent(res)}
			case ctx.Err() != nil:
				w.drop = true
			default:
				w.c = checked{rejected: err.Error()}
			}
		}()
	}
	wg.Wait()
	for _, w := range todo {
		d := w.env.Digest
		switch {
		case w.miss != "":
			e.lookup[d] = w.miss
		case w.drop:
		case w.corrupt != "":
			// Refused, but not cached: the blob may be repaired.
			e.rejected[d] = w.corrupt
		default:
			delete(e.lookup, d)
			s.storeCheck(w.key, w.c)
			e.take(d, w.env.RecordedAt, w.c)
		}
	}
}

// checkConcurrency bounds the envelopes one decision fetches and verifies at once.
const checkConcurrency = 4

func (e *evidenceSet) take(d string, recordedAt time.Time, c checked) {
	if c.res != nil {
		e.verified[d] = c.res
		e.contents[d] = c.content
		e.recorded[d] = recordedAt
		return
	}
	e.rejected[d] = c.rejected
}

func (e *evidenceSet) recordedTimes(digests []string) map[string]time.Time {
	out := make(map[string]time.Time, len(digests))
	for _, d := range digests {
		if t, ok := e.recorded[d]; ok {
			out[d] = t
		}
	}
	return out
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

// Decide evaluates a promotion request as the gate does for a request event (the
// evidence wait and caches included) and returns the decision, without signing or
// publishing it. `custody policy test` and benchmarks use it.
func (s *Service) Decide(ctx context.Context, req *eventsv1.PromotionRequested) policy.Decision {
	return s.decide(ctx, req.GetDigest(), req).Decision
}

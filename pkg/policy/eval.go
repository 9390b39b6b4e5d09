package policy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/custody-dev/custody/pkg/verify"
)

// Input is what a decision is made over.
type Input struct {
	// Digest is the image's sha256:<hex> digest.
	Digest string
	// Destination is the destination repository without tag, as ParseDestination in
	// package oci normalises it (registry.example.com/prod/app).
	Destination string
	// Attestations are envelopes package verify accepted for Digest. Their SignedAt
	// should be a trusted time (when the ledger recorded the envelope): it dates the
	// evidence for maxAge and bounds the times statements claim.
	Attestations []*verify.Result
	// Contents optionally holds, by envelope digest, the content of attestations as
	// ReadContent read it, so that Evaluate does not read it again; Evaluate reads those
	// it lacks (or that were read from another attestation) itself.
	Contents map[string]*Content
	// Now is the time of the decision; zero means time.Now(). Waivers, VEX documents
	// and maxAge are judged at Now, and conditions read it as `now`.
	Now time.Time
}

// Status is how far one requirement got.
type Status string

// Requirement statuses.
const (
	// StatusSatisfied: enough attestations from allowed authorities meet the requirement.
	StatusSatisfied Status = "satisfied"
	// StatusMissing: no usable attestation has been given yet (none at all, only about
	// other subjects, only from other keys, only too old), or too few keys have signed
	// satisfying ones; more may still arrive.
	StatusMissing Status = "missing"
	// StatusFailed: attestations were given, and they fail: the condition is false or
	// errs, or their content is not what their type says, or they claim future times.
	StatusFailed Status = "failed"
)

// Codes say, for machines, why a requirement ended as it did (RequirementResult.Code).
// When no attestation satisfies a requirement, the code names the furthest check any
// attestation of its type reached, in this order: missing, other-subject,
// unauthorized-signer, content-mismatch, future-timestamp, too-old,
// condition-false/condition-error, threshold-unmet.
const (
	// CodeSatisfied: the requirement is met.
	CodeSatisfied = "satisfied"
	// CodeMissing: no well-formed verified attestation of the type was given.
	CodeMissing = "missing"
	// CodeOtherSubject: attestations of the type name other digests only.
	CodeOtherSubject = "other-subject"
	// CodeUnauthorizedSigner: attestations of the type are signed only by keys outside
	// the requirement's authorities.
	CodeUnauthorizedSigner = "unauthorized-signer"
	// CodeContentMismatch: the predicate is not what its declared type says.
	CodeContentMismatch = "content-mismatch"
	// CodeFutureTimestamp: the statement claims a time after it was signed, or after
	// now, by more than ClockSkew.
	CodeFutureTimestamp = "future-timestamp"
	// CodeTooOld: the evidence is older than the requirement's maxAge.
	CodeTooOld = "too-old"
	// CodeConditionFalse: the condition is false for every usable attestation.
	CodeConditionFalse = "condition-false"
	// CodeConditionError: the condition failed to evaluate (an error, the cost limit, a
	// cancelled context) for some usable attestation and held for none.
	CodeConditionError = "condition-error"
	// CodeThresholdUnmet: some keys signed satisfying attestations, fewer than the
	// requirement's threshold.
	CodeThresholdUnmet = "threshold-unmet"
)

// RequirementResult is the outcome of one requirement.
type RequirementResult struct {
	Name          string `json:"name"`
	PredicateType string `json:"predicateType"`
	// Required is false for an advisory requirement, whose outcome is reported and
	// never changes Allowed.
	Required bool   `json:"required"`
	Status   Status `json:"status"`
	// Code is one of the Code constants.
	Code   string `json:"code"`
	Reason string `json:"reason"`
	// AttestationDigest is the first envelope that satisfied the requirement.
	AttestationDigest string `json:"attestationDigest,omitempty"`
	// AttestationDigests are all the envelopes whose keys were counted toward the
	// threshold, in input order.
	AttestationDigests []string `json:"attestationDigests,omitempty"`
	// KeyIDs are the distinct allowed keys that signed satisfying attestations.
	KeyIDs []string `json:"keyIds,omitempty"`
}

// Decision is a policy's verdict, with everything an auditor needs to see why.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Reasons are readable, one per requirement (or one saying why none was checked).
	Reasons      []string `json:"reasons"`
	PolicyName   string   `json:"policyName,omitempty"`
	PolicyDigest string   `json:"policyDigest,omitempty"`
	// AttestationDigests are the envelopes that satisfied required requirements, in
	// requirement order: evaluating the policy over just these allows again (until
	// ValidUntil).
	AttestationDigests []string            `json:"attestationDigests,omitempty"`
	Requirements       []RequirementResult `json:"requirements,omitempty"`
	// ValidUntil is the earliest time after the decision at which the same evidence
	// could be decided differently: a waiver or VEX document that bore on a finding
	// expires, an attestation grows older than a maxAge, a claimed future time comes
	// within the clock skew. Zero when nothing known changes with time; conditions
	// that read `now` themselves are not covered.
	ValidUntil time.Time `json:"validUntil,omitzero"`
}

// Pending reports whether d is a denial that more evidence could still turn into an
// allowance: some required requirement is missing its attestations and none has failed.
func (d Decision) Pending() bool {
	if d.Allowed || len(d.Requirements) == 0 {
		return false
	}
	missing := false
	for _, r := range d.Requirements {
		if !r.Required {
			continue
		}
		switch r.Status {
		case StatusFailed:
			return false
		case StatusMissing:
			missing = true
		}
	}
	return missing
}

// Deny returns a denial for reason, made without a policy (no policy matched, the input
// was unusable).
func Deny(reason string) Decision {
	return Decision{Reasons: []string{reason}}
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

const (
	maxReasonPart     = 300
	maxListedFailures = 5
)

// evaluation is the state of one Evaluate call.
type evaluation struct {
	p         *Policy
	in        Input
	now       time.Time
	hexDigest string
	evidence  []*evidence
	// until collects the times at which the decision could change.
	until []time.Time
}

// Evaluate decides whether in.Digest may go to in.Destination. It never returns an
// error: any failure is a denial whose reasons say what went wrong.
//
// A required requirement is met when at least its threshold of distinct allowed keys
// signed usable attestations that satisfy its condition; the policy allows when every
// required requirement is met. Each attestation is judged on its own, so adding one
// never turns an allowance into a denial, and removing one never turns a denial into an
// allowance. Advisory requirements (required: false) are evaluated and reported and
// never change Allowed.
func (p *Policy) Evaluate(ctx context.Context, in Input) (d Decision) {
	d = Decision{PolicyName: p.name, PolicyDigest: p.digest}
	defer func() {
		if r := recover(); r != nil {
			d = Decision{PolicyName: p.name, PolicyDigest: p.digest,
				Reasons: []string{truncate(fmt.Sprintf("policy evaluation failed: %v", r))}}
		}
	}()
	if !digestRE.MatchString(in.Digest) {
		d.Reasons = []string{fmt.Sprintf("image digest %q is not sha256:<64 lowercase hex>", clip(in.Digest))}
		return d
	}
	if !p.Matches(in.Destination) {
		d.Reasons = []string{fmt.Sprintf("policy %s does not govern destination %q (its patterns: %s)",
			p.name, clip(in.Destination), strings.Join(p.Destinations(), ", "))}
		return d
	}
	e := &evaluation{p: p, in: in, now: in.Now, hexDigest: strings.TrimPrefix(in.Digest, "sha256:"),
		evidence: make([]*evidence, len(in.Attestations))}
	if e.now.IsZero() {
		e.now = time.Now()
	}
	allowed := true
	for i := range p.requirements {
		res := e.requirement(ctx, &p.requirements[i])
		if res.Required {
			if res.Status != StatusSatisfied {
				allowed = false
			} else {
				for _, env := range res.AttestationDigests {
					if !slices.Contains(d.AttestationDigests, env) {
						d.AttestationDigests = append(d.AttestationDigests, env)
					}
				}
			}
		}
		d.Requirements = append(d.Requirements, res)
		d.Reasons = append(d.Reasons, res.Reason)
	}
	d.Allowed = allowed && len(p.requirements) > 0 && ctx.Err() == nil
	if !d.Allowed {
		d.AttestationDigests = nil
		if err := ctx.Err(); err != nil {
			d.Reasons = append(d.Reasons, "evaluation interrupted: "+err.Error())
		}
	}
	for _, t := range e.until {
		if t.After(e.now) && (d.ValidUntil.IsZero() || t.Before(d.ValidUntil)) {
			d.ValidUntil = t
		}
	}
	return d
}

// tally counts why attestations of a requirement's type did not count.
type tally struct {
	invalid, otherSubject, unauthorized, mismatch, future, tooOld, falses, errs, evaluated int
	problems                                                                               []string
	notes                                                                                  []string
}

func (t *tally) problem(s string) {
	if len(t.problems) < maxListedFailures {
		t.problems = append(t.problems, s)
	} else if len(t.problems) == maxListedFailures {
		t.problems = append(t.problems, "…")
	}
}

func (t *tally) note(notes []string) {
	for _, n := range notes {
		if !slices.Contains(t.notes, n) && len(t.notes) < maxListedFailures {
			t.notes = append(t.notes, n)
		}
	}
}

func (e *evaluation) requirement(ctx context.Context, r *requirement) RequirementResult {
	res := RequirementResult{Name: r.Name, PredicateType: r.PredicateType, Required: r.Required}
	var (
		t       tally
		counted = map[string]bool{}
		keys    []string
	)
	for i, a := range e.in.Attestations {
		if len(keys) >= r.Threshold {
			break
		}
		if a == nil || a.Statement == nil || !digestRE.MatchString(a.EnvelopeDigest) || len(a.KeyIDs) == 0 {
			t.invalid++
			continue
		}
		if a.PredicateType != r.PredicateType || a.Statement.GetPredicateType() != r.PredicateType {
			continue
		}
		if !namesDigest(a, e.hexDigest) {
			t.otherSubject++
			continue
		}
		allowed := r.allowedKeys(a.KeyIDs)
		if len(allowed) == 0 {
			t.unauthorized++
			continue
		}
		fresh := slices.DeleteFunc(allowed, func(k string) bool { return counted[k] })
		if len(fresh) == 0 {
			// Every key of this envelope is counted already: it cannot add anything.
			continue
		}
		ev := e.evidence[i]
		if ev == nil {
			c := e.in.Contents[a.EnvelopeDigest]
			if !c.usableFor(a) {
				c = ReadContent(a)
			}
			ev = e.p.prepare(a, c, e.in.Digest, e.now)
			e.evidence[i] = ev
		}
		if ev.unusable != "" {
			if ev.code == CodeContentMismatch {
				t.mismatch++
			} else {
				t.future++
				if !ev.usableFrom.IsZero() {
					e.until = append(e.until, ev.usableFrom)
				}
			}
			t.problem(ev.unusable)
			continue
		}
		if r.MaxAge > 0 {
			switch {
			case ev.evidenceTime.IsZero():
				t.tooOld++
				t.problem(a.EnvelopeDigest + " has no signing or claimed time to judge its age by")
				continue
			case ev.evidenceTime.Add(r.MaxAge).Before(e.now):
				t.tooOld++
				t.problem(fmt.Sprintf("%s dates from %s, older than maxAge %s", a.EnvelopeDigest, stamp(ev.evidenceTime), r.MaxAge))
				continue
			}
			e.until = append(e.until, ev.evidenceTime.Add(r.MaxAge))
		}
		if r.cond != nil {
			t.evaluated++
			e.until = append(e.until, ev.expiries...)
			t.note(ev.expired)
			ok, err := r.eval(ctx, ev)
			switch {
			case err != nil:
				t.errs++
				t.problem(fmt.Sprintf("error on %s: %s", a.EnvelopeDigest, truncate(err.Error())))
				continue
			case !ok:
				t.falses++
				continue
			}
		}
		if res.AttestationDigest == "" {
			res.AttestationDigest = a.EnvelopeDigest
		}
		res.AttestationDigests = append(res.AttestationDigests, a.EnvelopeDigest)
		for _, k := range fresh {
			if !counted[k] {
				counted[k] = true
				keys = append(keys, k)
			}
		}
	}
	res.KeyIDs = keys
	res.Code, res.Status = outcome(r, &t, len(keys))
	res.Reason = reason(r, &t, &res, e.in.Digest)
	if res.Status != StatusSatisfied {
		res.AttestationDigest, res.AttestationDigests, res.KeyIDs = "", nil, nil
	}
	return res
}

func outcome(r *requirement, t *tally, keys int) (string, Status) {
	failed := t.errs+t.falses > 0
	switch {
	case keys >= r.Threshold:
		return CodeSatisfied, StatusSatisfied
	case keys > 0:
		if failed {
			return CodeThresholdUnmet, StatusFailed
		}
		return CodeThresholdUnmet, StatusMissing
	case t.errs > 0:
		return CodeConditionError, StatusFailed
	case t.falses > 0:
		return CodeConditionFalse, StatusFailed
	case t.tooOld > 0:
		return CodeTooOld, StatusMissing
	case t.future > 0:
		return CodeFutureTimestamp, StatusFailed
	case t.mismatch > 0:
		return CodeContentMismatch, StatusFailed
	case t.unauthorized > 0:
		return CodeUnauthorizedSigner, StatusMissing
	case t.otherSubject > 0:
		return CodeOtherSubject, StatusMissing
	}
	return CodeMissing, StatusMissing
}

func reason(r *requirement, t *tally, res *RequirementResult, digest string) string {
	name := r.Name
	if !r.Required {
		name += " (advisory)"
	}
	var s string
	switch res.Code {
	case CodeSatisfied:
		if r.Threshold == 1 {
			s = fmt.Sprintf("%s: satisfied by %s signed by %s", name, res.AttestationDigest, strings.Join(res.KeyIDs, ", "))
		} else {
			s = fmt.Sprintf("%s: satisfied by %d distinct keys (threshold %d): %s; envelopes %s", name, len(res.KeyIDs), r.Threshold,
				strings.Join(res.KeyIDs, ", "), strings.Join(res.AttestationDigests, ", "))
		}
	case CodeThresholdUnmet:
		s = fmt.Sprintf("%s: only %d of the %d distinct keys required signed satisfying attestations of type %s (%s)",
			name, len(res.KeyIDs), r.Threshold, r.PredicateType, strings.Join(res.KeyIDs, ", "))
	case CodeConditionFalse, CodeConditionError:
		if t.errs == 0 && t.falses == t.evaluated {
			s = fmt.Sprintf("%s: condition false for all %d attestations of type %s", name, t.evaluated, r.PredicateType)
		} else {
			s = fmt.Sprintf("%s: condition not met by any of %d attestations of type %s: false for %d", name, t.evaluated, r.PredicateType, t.falses)
		}
	case CodeContentMismatch, CodeFutureTimestamp, CodeTooOld:
		s = fmt.Sprintf("%s: no usable verified attestation of type %s about %s", name, r.PredicateType, digest)
	default:
		s = fmt.Sprintf("%s: no verified attestation of type %s about %s", name, r.PredicateType, digest)
	}
	if res.Code != CodeSatisfied {
		if parts := t.counts(r); len(parts) > 0 {
			s += " (" + strings.Join(parts, "; ") + ")"
		}
		if len(t.problems) > 0 {
			s += "; " + strings.Join(t.problems, "; ")
		}
	}
	if len(t.notes) > 0 {
		s += "; note: " + strings.Join(t.notes, "; ")
	}
	return s
}

func (t *tally) counts(r *requirement) []string {
	var parts []string
	if t.tooOld > 0 {
		parts = append(parts, fmt.Sprintf("%d older than maxAge %s", t.tooOld, r.MaxAge))
	}
	if t.future > 0 {
		parts = append(parts, fmt.Sprintf("%d claiming future times", t.future))
	}
	if t.mismatch > 0 {
		parts = append(parts, fmt.Sprintf("%d whose content does not match the type", t.mismatch))
	}
	if t.unauthorized > 0 {
		who := "the policy's authorities"
		if len(r.Authorities) > 0 {
			who = "authorities " + strings.Join(r.Authorities, ", ")
		}
		parts = append(parts, fmt.Sprintf("%d signed only by keys outside %s", t.unauthorized, who))
	}
	if t.otherSubject > 0 {
		parts = append(parts, fmt.Sprintf("%d about another subject", t.otherSubject))
	}
	if t.invalid > 0 {
		parts = append(parts, fmt.Sprintf("%d unusable (not a verified result)", t.invalid))
	}
	return parts
}

func truncate(s string) string {
	if len(s) <= maxReasonPart {
		return s
	}
	return s[:maxReasonPart] + "…"
}

// allowedKeys returns the distinct ids that count for r.
func (r *requirement) allowedKeys(ids []string) []string {
	var out []string
	for _, id := range ids {
		if (r.keys == nil || r.keys[id]) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func (r *requirement) eval(ctx context.Context, ev *evidence) (bool, error) {
	if r.cond.refs[VarPredicate] || r.cond.refs[VarStatement] {
		if err := ev.decodeStatement(); err != nil {
			return false, err
		}
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	out, _, err := r.cond.program.ContextEval(ctx, ev)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition returned %s, not bool", out.Type().TypeName())
	}
	return b, nil
}

func namesDigest(a *verify.Result, hexDigest string) bool {
	for _, s := range a.Statement.GetSubject() {
		if s.GetDigest()["sha256"] == hexDigest {
			return true
		}
	}
	return false
}

package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/custody-dev/custody/pkg/verify"
)

// Input is what a decision is made over.
type Input struct {
	// Digest is the image's sha256:<hex> digest.
	Digest string
	// Destination is the destination repository without tag, as ParseDestination in
	// package oci normalises it (registry.example.com/prod/app).
	Destination string
	// Attestations are envelopes package verify accepted for Digest.
	Attestations []*verify.Result
}

// Status is how far one requirement got.
type Status string

// Requirement statuses.
const (
	// StatusSatisfied: an attestation from an allowed authority meets the requirement.
	StatusSatisfied Status = "satisfied"
	// StatusMissing: no attestation of the predicate type about the digest from an
	// allowed authority was given; one may still arrive.
	StatusMissing Status = "missing"
	// StatusFailed: attestations were given, and none meets the condition.
	StatusFailed Status = "failed"
)

// RequirementResult is the outcome of one requirement.
type RequirementResult struct {
	Name          string `json:"name"`
	PredicateType string `json:"predicateType"`
	Status        Status `json:"status"`
	Reason        string `json:"reason"`
	// AttestationDigest is the envelope that satisfied the requirement.
	AttestationDigest string   `json:"attestationDigest,omitempty"`
	KeyIDs            []string `json:"keyIds,omitempty"`
}

// Decision is a policy's verdict, with everything an auditor needs to see why.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Reasons are readable, one per requirement (or one saying why none was checked).
	Reasons      []string `json:"reasons"`
	PolicyName   string   `json:"policyName,omitempty"`
	PolicyDigest string   `json:"policyDigest,omitempty"`
	// AttestationDigests are the envelopes that satisfied requirements, in requirement order.
	AttestationDigests []string            `json:"attestationDigests,omitempty"`
	Requirements       []RequirementResult `json:"requirements,omitempty"`
}

// Pending reports whether d is a denial that more evidence could still turn into an
// allowance: some requirement is missing its attestation and none has failed.
func (d Decision) Pending() bool {
	if d.Allowed || len(d.Requirements) == 0 {
		return false
	}
	missing := false
	for _, r := range d.Requirements {
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

const maxReasonPart = 300

// Evaluate decides whether in.Digest may go to in.Destination. It never returns an
// error: any failure is a denial whose reasons say what went wrong.
func (p *Policy) Evaluate(ctx context.Context, in Input) Decision {
	d := Decision{PolicyName: p.name, PolicyDigest: p.digest}
	if !digestRE.MatchString(in.Digest) {
		d.Reasons = []string{fmt.Sprintf("image digest %q is not sha256:<64 lowercase hex>", in.Digest)}
		return d
	}
	if !p.Matches(in.Destination) {
		d.Reasons = []string{fmt.Sprintf("policy %s does not govern destination %q (its patterns: %s)",
			p.name, in.Destination, strings.Join(p.Destinations(), ", "))}
		return d
	}
	hexDigest := strings.TrimPrefix(in.Digest, "sha256:")
	acts := make([]*activation, len(in.Attestations))
	allowed := true
	for _, r := range p.requirements {
		res := p.evalRequirement(ctx, r, in, hexDigest, acts)
		if res.Status != StatusSatisfied {
			allowed = false
		} else if !slices.Contains(d.AttestationDigests, res.AttestationDigest) {
			d.AttestationDigests = append(d.AttestationDigests, res.AttestationDigest)
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
	return d
}

type activation struct {
	vars map[string]any
	err  error
}

func (p *Policy) evalRequirement(ctx context.Context, r requirement, in Input, hexDigest string, acts []*activation) RequirementResult {
	res := RequirementResult{Name: r.Name, PredicateType: r.PredicateType}
	var (
		invalid, otherSubject, unauthorized, considered, falses int
		failures                                                []string
	)
	for i, a := range in.Attestations {
		if a == nil || a.Statement == nil || !digestRE.MatchString(a.EnvelopeDigest) || len(a.KeyIDs) == 0 {
			invalid++
			continue
		}
		if a.PredicateType != r.PredicateType || a.Statement.GetPredicateType() != r.PredicateType {
			continue
		}
		if !namesDigest(a, hexDigest) {
			otherSubject++
			continue
		}
		keys := r.allowedKeys(a.KeyIDs)
		if len(keys) == 0 {
			unauthorized++
			continue
		}
		considered++
		if r.program == nil {
			return satisfied(res, a, keys)
		}
		if acts[i] == nil {
			acts[i] = newActivation(a, in.Digest)
		}
		ok, err := r.eval(ctx, acts[i])
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("error on %s: %s", a.EnvelopeDigest, truncate(err.Error())))
		case ok:
			return satisfied(res, a, keys)
		default:
			falses++
		}
	}
	if considered == 0 {
		res.Status = StatusMissing
		res.Reason = fmt.Sprintf("%s: no verified attestation of type %s about %s%s", r.Name, r.PredicateType, in.Digest,
			notes(r, invalid, otherSubject, unauthorized))
		return res
	}
	res.Status = StatusFailed
	if len(failures) == 0 {
		res.Reason = fmt.Sprintf("%s: condition false for all %d attestations of type %s", r.Name, considered, r.PredicateType)
	} else {
		res.Reason = fmt.Sprintf("%s: condition not met by any of %d attestations of type %s: false for %d; %s",
			r.Name, considered, r.PredicateType, falses, strings.Join(failures, "; "))
	}
	return res
}

func satisfied(res RequirementResult, a *verify.Result, keys []string) RequirementResult {
	res.Status = StatusSatisfied
	res.AttestationDigest = a.EnvelopeDigest
	res.KeyIDs = keys
	res.Reason = fmt.Sprintf("%s: satisfied by %s signed by %s", res.Name, a.EnvelopeDigest, strings.Join(keys, ", "))
	return res
}

func notes(r requirement, invalid, otherSubject, unauthorized int) string {
	var parts []string
	if unauthorized > 0 {
		who := "the policy's authorities"
		if len(r.Authorities) > 0 {
			who = "authorities " + strings.Join(r.Authorities, ", ")
		}
		parts = append(parts, fmt.Sprintf("%d signed only by keys outside %s", unauthorized, who))
	}
	if otherSubject > 0 {
		parts = append(parts, fmt.Sprintf("%d about another subject", otherSubject))
	}
	if invalid > 0 {
		parts = append(parts, fmt.Sprintf("%d unusable (not a verified result)", invalid))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func truncate(s string) string {
	if len(s) <= maxReasonPart {
		return s
	}
	return s[:maxReasonPart] + "…"
}

// allowedKeys returns those of ids that count for r.
func (r requirement) allowedKeys(ids []string) []string {
	if r.keys == nil {
		return slices.Clone(ids)
	}
	var out []string
	for _, id := range ids {
		if r.keys[id] {
			out = append(out, id)
		}
	}
	return out
}

func (r requirement) eval(ctx context.Context, act *activation) (bool, error) {
	if act.err != nil {
		return false, act.err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	out, _, err := r.program.ContextEval(ctx, act.vars)
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

// newActivation exposes a verified statement to CEL as JSON values.
func newActivation(a *verify.Result, digest string) *activation {
	payload := a.Payload
	if len(payload) == 0 {
		var err error
		if payload, err = protojson.Marshal(a.Statement); err != nil {
			return &activation{err: fmt.Errorf("encode statement: %w", err)}
		}
	}
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		return &activation{err: fmt.Errorf("decode statement: %w", err)}
	}
	pred, _ := st["predicate"].(map[string]any)
	if pred == nil {
		pred = map[string]any{}
	}
	return &activation{vars: map[string]any{
		VarPredicate:     pred,
		VarStatement:     st,
		VarSubject:       digest,
		VarPredicateType: a.PredicateType,
		VarKeyIDs:        slices.Clone(a.KeyIDs),
	}}
}

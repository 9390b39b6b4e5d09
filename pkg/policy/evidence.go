package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/interpreter"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
)

// Predicate types whose content Evaluate checks before any requirement may use an
// attestation of that type; attestations of other types are used as they are.
const (
	PredicateSLSAProvenanceV1 = attestation.PredicateSLSAProvenanceV1
	PredicateCycloneDX        = attestation.PredicateCycloneDX
	PredicateVulnsV02         = vuln.PredicateType
	PredicateSecretsV1        = secrets.PredicateType
	PredicateSLSAVSAV1        = "https://slsa.dev/verification_summary/v1"
)

// ClockSkew is how far a statement's own times may lie after the time it was signed
// (or after now) before the attestation is unusable.
const ClockSkew = 5 * time.Minute

// Bounds on what is derived from one SBOM.
const (
	maxSBOMComponents = 200_000
	maxSBOMDepth      = 32
	maxLicenses       = 10_000
)

// evidence is one attestation prepared for conditions: its content checked against its
// declared type, its times read, its facts derived. It is computed at most once per
// evaluation.
type evidence struct {
	// unusable, when set, says why no requirement may use the attestation, and code is
	// CodeContentMismatch or CodeFutureTimestamp.
	unusable, code string
	// evidenceTime is the earlier of the signing time and the statement's claimed
	// time; zero when neither is known.
	evidenceTime time.Time
	// usableFrom, when the attestation is unusable only because a claimed time is
	// ahead of now, is when that changes.
	usableFrom time.Time
	// facts are the CEL variables; predicate and statement are decoded from the
	// content's payload only when a condition reads them (see decodeStatement).
	facts   map[string]any
	content *Content
	// expiries and expired are what the policy's waivers did (see waiverOutcome).
	expiries []time.Time
	expired  []string
}

type claimed struct {
	field string
	t     time.Time
}

// prepare judges a, which Evaluate has already found well formed, by its content c (read
// from a by ReadContent) under this policy: waivers, claimed times against the signing
// time and now, and the facts conditions read.
func (p *Policy) prepare(a *verify.Result, c *Content, digest string, now time.Time) *evidence {
	ev := &evidence{content: c}
	if c.unusable != "" {
		ev.unusable, ev.code = c.unusable, CodeContentMismatch
		return ev
	}
	facts := map[string]any{
		VarVulns:       []Vuln{},
		VarWaivedVulns: []WaivedVuln{},
		VarLicenses:    []string{},
		VarSecrets:     []SecretFinding{},
	}
	switch c.predicateType {
	case PredicateCycloneDX:
		facts[VarLicenses] = nonNil(c.licenses)
	case PredicateVulnsV02:
		w := p.applyWaivers(c.vulns, digest, now)
		facts[VarVulns] = nonNil(w.active)
		facts[VarWaivedVulns] = nonNil(w.waivedInfo)
		ev.expiries, ev.expired = w.expiries, w.expired
	case PredicateSecretsV1:
		facts[VarSecrets] = nonNil(c.secrets)
	}
	ev.evidenceTime = a.SignedAt
	for _, claim := range c.times {
		if !a.SignedAt.IsZero() && claim.t.After(a.SignedAt.Add(ClockSkew)) {
			ev.unusable = fmt.Sprintf("%s claims %s %s, after its signing time %s (more than %s of clock skew)",
				a.EnvelopeDigest, claim.field, stamp(claim.t), stamp(a.SignedAt), ClockSkew)
			ev.code = CodeFutureTimestamp
			return ev
		}
	}
	for _, claim := range c.times {
		if claim.t.After(now.Add(ClockSkew)) && claim.t.Add(-ClockSkew).After(ev.usableFrom) {
			ev.unusable = fmt.Sprintf("%s claims %s %s, after the evaluation time %s (more than %s of clock skew)",
				a.EnvelopeDigest, claim.field, stamp(claim.t), stamp(now), ClockSkew)
			ev.code = CodeFutureTimestamp
			ev.usableFrom = claim.t.Add(-ClockSkew)
		}
	}
	if ev.unusable != "" {
		return ev
	}
	if len(c.times) > 0 {
		// The evidence time is the earlier of signing and the claim: a statement may say
		// it is older than its signature, never younger.
		t := c.times[0].t
		if ev.evidenceTime.IsZero() || t.Before(ev.evidenceTime) {
			ev.evidenceTime = t
		}
	}
	facts[VarSubject] = digest
	facts[VarPredicateType] = a.PredicateType
	facts[VarKeyIDs] = slices.Clone(a.KeyIDs)
	facts[VarNow] = now
	facts[VarSignedAt] = a.SignedAt
	ev.facts = facts
	return ev
}

// decodeStatement binds predicate and statement, the statement as generic JSON. It is
// the costliest step for large predicates, so it runs only for conditions that read
// them, and once per Content.
func (ev *evidence) decodeStatement() error {
	if _, ok := ev.facts[VarStatement]; ok {
		return nil
	}
	st, pred, err := ev.content.statementJSON()
	if err != nil {
		return err
	}
	ev.facts[VarPredicate] = pred
	ev.facts[VarStatement] = st
	return nil
}

// ResolveName and Parent make evidence a CEL activation over its facts.
func (ev *evidence) ResolveName(name string) (any, bool) {
	v, ok := ev.facts[name]
	return v, ok
}

// Parent implements interpreter.Activation.
func (ev *evidence) Parent() interpreter.Activation { return nil }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// vulnFacts lists a vulns predicate's findings that its own VEX statements leave
// active (not not_affected or fixed).
func vulnFacts(vp *vuln.Predicate) []Vuln {
	out := make([]Vuln, 0, len(vp.Scanner.Result))
	for _, r := range vp.Scanner.Result {
		status := r.Status()
		if status == vuln.StatusNotAffected || status == vuln.StatusFixed {
			continue
		}
		var ann vuln.Annotation
		for _, a := range r.Annotations {
			if a.Package != "" || a.Name != "" {
				ann = a
				break
			}
		}
		score := cvssScore(r.Severity)
		out = append(out, Vuln{
			ID:            r.ID,
			Aliases:       nonNil(ann.Aliases),
			Severity:      normaliseSeverity(r.Rating(), score),
			Score:         score,
			Package:       ann.Package,
			Name:          ann.Name,
			Version:       ann.Version,
			FixedVersions: nonNil(ann.Fixed),
			Status:        status,
		})
	}
	return out
}

var methodSeparators = strings.NewReplacer("_", "", ".", "", "-", "")

// cvssScore is the base score of the first of CVSS v3, v4 and v2 written as a number.
func cvssScore(sev []vuln.PredicateSeverity) float64 {
	for _, want := range []string{"cvssv3", "cvssv4", "cvssv2"} {
		for _, s := range sev {
			m := strings.ToLower(methodSeparators.Replace(s.Method))
			if !strings.HasPrefix(m, want) {
				continue
			}
			if f, err := strconv.ParseFloat(s.Score, 64); err == nil && f >= 0 && f <= 10 {
				return f
			}
		}
	}
	return 0
}

// normaliseSeverity maps a rating to none, low, medium, high, critical or unknown;
// without a usable rating it rates the CVSS score on the CVSS v3 scale.
func normaliseSeverity(rating string, score float64) string {
	switch r := strings.ToLower(strings.TrimSpace(rating)); r {
	case vuln.RatingNone, vuln.RatingLow, vuln.RatingMedium, vuln.RatingHigh, vuln.RatingCritical:
		return r
	case "moderate":
		return vuln.RatingMedium
	case "important":
		return vuln.RatingHigh
	case "negligible":
		return vuln.RatingLow
	}
	switch {
	case score >= 9:
		return vuln.RatingCritical
	case score >= 7:
		return vuln.RatingHigh
	case score >= 4:
		return vuln.RatingMedium
	case score > 0:
		return vuln.RatingLow
	}
	return vuln.RatingUnknown
}

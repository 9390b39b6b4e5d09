package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/interpreter"
	jsonv2 "github.com/go-json-experiment/json"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	vsa "github.com/in-toto/attestation/go/predicates/vsa/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	// facts are the CEL variables; predicate and statement are decoded from payload
	// only when a condition reads them (see statementVars).
	facts   map[string]any
	payload []byte
	decoded bool
	// expiries and expired are what the policy's waivers did (see waiverOutcome).
	expiries []time.Time
	expired  []string
}

type claimed struct {
	field string
	t     time.Time
}

// prepare checks and decodes a, which Evaluate has already found well formed.
func (p *Policy) prepare(a *verify.Result, digest string, now time.Time) *evidence {
	ev := &evidence{}
	payload := a.Payload
	if len(payload) == 0 {
		var err error
		if payload, err = protojson.Marshal(a.Statement); err != nil {
			ev.unusable, ev.code = "statement cannot be encoded: "+truncate(err.Error()), CodeContentMismatch
			return ev
		}
	}
	// Verify hands over the predicate it found in the payload; other results are read
	// here.
	predicate := a.Predicate
	if predicate == nil {
		var raw struct {
			Predicate json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(payload, &raw); err != nil {
			ev.unusable, ev.code = "statement is not JSON: "+truncate(err.Error()), CodeContentMismatch
			return ev
		}
		predicate = raw.Predicate
	}
	facts := map[string]any{
		VarVulns:       []Vuln{},
		VarWaivedVulns: []WaivedVuln{},
		VarLicenses:    []string{},
		VarSecrets:     []SecretFinding{},
	}
	times, err := p.checkContent(a.PredicateType, predicate, digest, now, ev, facts)
	if err != nil {
		ev.unusable = fmt.Sprintf("content of %s does not match its predicate type %s: %s", a.EnvelopeDigest, a.PredicateType, truncate(err.Error()))
		ev.code = CodeContentMismatch
		return ev
	}
	ev.evidenceTime = a.SignedAt
	for _, c := range times {
		if !a.SignedAt.IsZero() && c.t.After(a.SignedAt.Add(ClockSkew)) {
			ev.unusable = fmt.Sprintf("%s claims %s %s, after its signing time %s (more than %s of clock skew)",
				a.EnvelopeDigest, c.field, stamp(c.t), stamp(a.SignedAt), ClockSkew)
			ev.code = CodeFutureTimestamp
			return ev
		}
	}
	for _, c := range times {
		if c.t.After(now.Add(ClockSkew)) && c.t.Add(-ClockSkew).After(ev.usableFrom) {
			ev.unusable = fmt.Sprintf("%s claims %s %s, after the evaluation time %s (more than %s of clock skew)",
				a.EnvelopeDigest, c.field, stamp(c.t), stamp(now), ClockSkew)
			ev.code = CodeFutureTimestamp
			ev.usableFrom = c.t.Add(-ClockSkew)
		}
	}
	if ev.unusable != "" {
		return ev
	}
	if len(times) > 0 {
		// The evidence time is the earlier of signing and the claim: a statement may say
		// it is older than its signature, never younger.
		t := times[0].t
		if ev.evidenceTime.IsZero() || t.Before(ev.evidenceTime) {
			ev.evidenceTime = t
		}
	}
	facts[VarSubject] = digest
	facts[VarPredicateType] = a.PredicateType
	facts[VarKeyIDs] = slices.Clone(a.KeyIDs)
	facts[VarNow] = now
	facts[VarSignedAt] = a.SignedAt
	ev.facts, ev.payload = facts, payload
	return ev
}

// decodeStatement binds predicate and statement, the statement as generic JSON. It is
// the costliest step for large predicates, so it runs only for conditions that read
// them.
func (ev *evidence) decodeStatement() error {
	if ev.decoded {
		return nil
	}
	var st map[string]any
	if err := json.Unmarshal(ev.payload, &st); err != nil {
		return fmt.Errorf("decode statement: %w", err)
	}
	pred, _ := st["predicate"].(map[string]any)
	if pred == nil {
		pred = map[string]any{}
	}
	ev.facts[VarPredicate] = pred
	ev.facts[VarStatement] = st
	ev.decoded = true
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

// checkContent checks that predicate is what predicateType says, derives the facts of
// known types into facts, and returns the statement's claimed times, the one that
// dates the evidence first.
func (p *Policy) checkContent(predicateType string, predicate json.RawMessage, digest string, now time.Time, ev *evidence, facts map[string]any) ([]claimed, error) {
	switch predicateType {
	case PredicateSLSAProvenanceV1:
		var prov slsa.Provenance
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(predicate, &prov); err != nil {
			return nil, err
		}
		if err := prov.Validate(); err != nil {
			return nil, err
		}
		md := prov.GetRunDetails().GetMetadata()
		var times []claimed
		for _, c := range []struct {
			field string
			ts    *timestamppb.Timestamp
		}{{"runDetails.metadata.finishedOn", md.GetFinishedOn()}, {"runDetails.metadata.startedOn", md.GetStartedOn()}} {
			if c.ts != nil {
				times = append(times, claimed{c.field, c.ts.AsTime()})
			}
		}
		return times, nil
	case PredicateCycloneDX:
		licenses, err := sbomLicenses(predicate)
		if err != nil {
			return nil, err
		}
		facts[VarLicenses] = licenses
		return nil, nil
	case PredicateVulnsV02:
		vp, err := vuln.ParsePredicate(predicate)
		if err != nil {
			return nil, err
		}
		w := p.applyWaivers(vulnFacts(vp), digest, now)
		facts[VarVulns] = nonNil(w.active)
		facts[VarWaivedVulns] = nonNil(w.waivedInfo)
		ev.expiries, ev.expired = w.expiries, w.expired
		return []claimed{
			{"metadata.scanFinishedOn", vp.Metadata.ScanFinishedOn},
			{"metadata.scanStartedOn", vp.Metadata.ScanStartedOn},
		}, nil
	case PredicateSecretsV1:
		sp, err := secrets.ParsePredicate(predicate)
		if err != nil {
			return nil, err
		}
		out := make([]SecretFinding, 0, len(sp.Findings))
		for _, f := range sp.Findings {
			out = append(out, SecretFinding{Rule: f.RuleID, Path: f.Path, Layer: f.Layer, Deleted: f.Deleted, Severity: string(f.Severity)})
		}
		facts[VarSecrets] = out
		return nil, nil
	case PredicateSLSAVSAV1:
		var v vsa.VerificationSummary
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(predicate, &v); err != nil {
			return nil, err
		}
		switch {
		case v.GetVerifier().GetId() == "":
			return nil, errors.New("verifier.id: missing")
		case v.GetResourceUri() == "":
			return nil, errors.New("resourceUri: missing")
		case v.GetVerificationResult() != "PASSED" && v.GetVerificationResult() != "FAILED":
			return nil, fmt.Errorf("verificationResult %q: want PASSED or FAILED", clip(v.GetVerificationResult()))
		}
		if ts := v.GetTimeVerified(); ts != nil {
			if err := ts.CheckValid(); err != nil {
				return nil, fmt.Errorf("timeVerified: %w", err)
			}
			return []claimed{{"timeVerified", ts.AsTime()}}, nil
		}
		return nil, nil
	}
	return nil, nil
}

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

type cdxLicense struct {
	License *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"license"`
	Expression string `json:"expression"`
}

type cdxComponent struct {
	Licenses   []cdxLicense   `json:"licenses"`
	Components []cdxComponent `json:"components"`
}

// sbomLicenses checks a CycloneDX document's format and returns its components'
// distinct license ids, names or expressions, in first-seen order.
func sbomLicenses(predicate json.RawMessage) ([]string, error) {
	var bom struct {
		BOMFormat   *string        `json:"bomFormat"`
		SpecVersion *string        `json:"specVersion"`
		Components  []cdxComponent `json:"components"`
	}
	// encoding/json/v2's decoder (go-json-experiment), about three times faster on an
	// SBOM than v1's, and exact about field names as CycloneDX is.
	if err := jsonv2.Unmarshal(predicate, &bom); err != nil {
		return nil, fmt.Errorf("not a CycloneDX JSON document: %s", truncate(err.Error()))
	}
	switch {
	case bom.BOMFormat == nil || *bom.BOMFormat != "CycloneDX":
		return nil, errors.New(`bomFormat: want "CycloneDX"`)
	case bom.SpecVersion == nil || *bom.SpecVersion == "":
		return nil, errors.New("specVersion: missing")
	}
	out := []string{}
	seen := map[string]bool{}
	components := 0
	var walk func([]cdxComponent, int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > maxSBOMDepth {
			return fmt.Errorf("components nested deeper than %d", maxSBOMDepth)
		}
		for _, c := range cs {
			if components++; components > maxSBOMComponents {
				return fmt.Errorf("more than %d components", maxSBOMComponents)
			}
			for _, l := range c.Licenses {
				v := l.Expression
				if l.License != nil {
					v = l.License.ID
					if v == "" {
						v = l.License.Name
					}
				}
				if v == "" || seen[v] {
					continue
				}
				if len(out) >= maxLicenses {
					return fmt.Errorf("more than %d distinct licenses", maxLicenses)
				}
				seen[v] = true
				out = append(out, v)
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(bom.Components, 0); err != nil {
		return nil, err
	}
	return out, nil
}

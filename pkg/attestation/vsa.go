package attestation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	vsapb "github.com/in-toto/attestation/go/predicates/vsa/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/verify"
)

// PredicateVSAV1 is the SLSA Verification Summary Attestation predicate type
// (https://slsa.dev/spec/v1.0/verification_summary; verifier.version and an optional
// timeVerified came in its minor version 1.1).
const PredicateVSAV1 = "https://slsa.dev/verification_summary/v1"

// VSADecisionField is the predicate field holding Custody's decision record. The in-toto
// parsing rules (which the VSA predicate opts into) let producers add extension fields
// named by URIs and make consumers ignore fields they do not know, so any VSA consumer
// reads the standard fields and skips this one.
const VSADecisionField = "https://custody.dev/vsa/decision"

// Results a VSA records: verificationResult is one of them, and a FAILED VSA's
// verifiedLevels is [VSAFailed].
const (
	VSAPassed = "PASSED"
	VSAFailed = "FAILED"
)

// MaxVSASize bounds a VSA statement, built or parsed.
const MaxVSASize = 1 << 20

const (
	maxVSAList   = 1024     // input attestations, reasons, requirements, key ids, recorded times
	maxVSALevels = 16       // verified levels
	maxVSAString = 16 << 10 // any one string
)

// VSAInput is what a VSA says: which verifier decided what about which artifact under
// which policy, from which attestations.
type VSAInput struct {
	// VerifierID is the verifier's URI, e.g. "https://custody.dev/gate".
	VerifierID string
	// VerifierVersion maps components of the verifier to their versions (optional).
	VerifierVersion map[string]string
	// Image is the resource verified, the VSA's resourceUri: for a PASSED VSA an image
	// reference pinned by Digest (registry/repo@sha256:<hex>). A FAILED VSA records the
	// reference as requested, whatever it was, so that every denial can be signed.
	Image string
	// Digest is the statement's subject, sha256:<hex>.
	Digest       string
	TimeVerified time.Time
	// PolicyURI names the policy, e.g. "urn:custody:policy:<name>".
	PolicyURI string
	// PolicyDigest is sha256:<hex> of the policy document; required for PASSED.
	PolicyDigest string
	// InputAttestations are the sha256:<hex> digests of the envelopes the decision used.
	InputAttestations []string
	// Passed is verificationResult: PASSED or FAILED.
	Passed bool
	// VerifiedLevels are SLSA results: at most one SLSA_<TRACK>_LEVEL_<n|UNEVALUATED> per
	// track, or custom values not starting with SLSA_. May be empty for PASSED. For a
	// FAILED VSA it is empty or [VSAFailed], and the VSA always carries [VSAFailed].
	VerifiedLevels []string
	// Decision is Custody's own record, under VSADecisionField.
	Decision VSADecision
}

// VSADecision is Custody's record of a promotion decision. RequestID, Destination and
// PolicyName are required for a PASSED VSA.
type VSADecision struct {
	RequestID, Destination, PolicyName string
	Reasons                            []string
	Requirements                       []VSARequirement
	// RecordedAt is when each input attestation was recorded, by its digest; signing
	// keys' validity windows were checked at these times. Every key is one of
	// InputAttestations.
	RecordedAt map[string]time.Time
}

// VSARequirement is the outcome of one policy requirement. Name and Status are required.
type VSARequirement struct {
	Name, PredicateType, Status, Code, Reason string
	// AttestationDigest is the first envelope that satisfied the requirement, if any.
	AttestationDigest string
	KeyIDs            []string
	Required          bool
}

// ParsedVSA is a VSA read back by ParseVSA: exactly what VSA was given, so
// VSA(p.VSAInput) makes the same statement again (VerifiedLevels of a FAILED VSA reads
// back as [VSAFailed]).
type ParsedVSA struct {
	VSAInput
}

type vsaDecisionJSON struct {
	RequestID    string               `json:"requestId,omitempty"`
	Destination  string               `json:"destination,omitempty"`
	PolicyName   string               `json:"policyName,omitempty"`
	Reasons      []string             `json:"reasons,omitempty"`
	Requirements []vsaRequirementJSON `json:"requirements,omitempty"`
	RecordedAt   map[string]string    `json:"recordedAt,omitempty"`
}

type vsaRequirementJSON struct {
	Name              string   `json:"name"`
	PredicateType     string   `json:"predicateType,omitempty"`
	Status            string   `json:"status"`
	Code              string   `json:"code,omitempty"`
	Reason            string   `json:"reason,omitempty"`
	AttestationDigest string   `json:"attestationDigest,omitempty"`
	KeyIDs            []string `json:"keyIds,omitempty"`
	Required          bool     `json:"required"`
}

// The keys of Custody's extension objects; any other key is an error.
var (
	vsaDecisionKeys    = []string{"requestId", "destination", "policyName", "reasons", "requirements", "recordedAt"}
	vsaRequirementKeys = []string{"name", "predicateType", "status", "code", "reason", "attestationDigest", "keyIds", "required"}
)

// VSA returns an in-toto v1 statement whose predicate is a SLSA VSA v1 about in.Digest,
// with Custody's decision under VSADecisionField. The output is canonical JSON, the same
// bytes for the same input, and ParseVSA reads it back.
func VSA(in VSAInput) ([]byte, error) {
	if err := checkVSA(in); err != nil {
		return nil, fmt.Errorf("vsa: %w", err)
	}
	hexDigest := strings.TrimPrefix(in.Digest, "sha256:")
	name, _, _ := strings.Cut(in.Image, "@")
	if name == "" {
		name = "_" // the in-toto spec's name for "not meaningful"
	}
	result, levels := VSAFailed, []string{VSAFailed}
	if in.Passed {
		result, levels = VSAPassed, append([]string{}, in.VerifiedLevels...)
	}
	// The predicate as the in-toto VSA binding's JSON form has it (protojson leaves out
	// empty strings and lists), plus verifiedLevels even when empty and Custody's
	// decision record, built as maps so that one encoding sorts every key.
	verifier := map[string]any{}
	if in.VerifierID != "" {
		verifier["id"] = in.VerifierID
	}
	if len(in.VerifierVersion) > 0 {
		verifier["version"] = in.VerifierVersion
	}
	pol := map[string]any{}
	if in.PolicyURI != "" {
		pol["uri"] = in.PolicyURI
	}
	if in.PolicyDigest != "" {
		pol["digest"] = map[string]string{"sha256": strings.TrimPrefix(in.PolicyDigest, "sha256:")}
	}
	pred := map[string]any{
		"verifier":           verifier,
		"timeVerified":       protoTime(in.TimeVerified),
		"policy":             pol,
		"verificationResult": result,
		"verifiedLevels":     levels,
		VSADecisionField:     decisionMap(in.Decision),
	}
	if in.Image != "" {
		pred["resourceUri"] = in.Image
	}
	if len(in.InputAttestations) > 0 {
		inputs := make([]any, len(in.InputAttestations))
		for i, d := range in.InputAttestations {
			inputs[i] = map[string]any{"digest": map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}}
		}
		pred["inputAttestations"] = inputs
	}
	predJSON, err := json.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("vsa: encode: %w", err)
	}
	out, err := marshalStatement(subject{Name: name, Digest: map[string]string{"sha256": hexDigest}}, PredicateVSAV1, predJSON)
	if err != nil {
		return nil, fmt.Errorf("vsa: %w", err)
	}
	if len(out) > MaxVSASize {
		return nil, fmt.Errorf("vsa: statement of %d bytes exceeds %d: record fewer or shorter reasons", len(out), MaxVSASize)
	}
	return out, nil
}

// protoTime writes t as protojson writes a Timestamp: UTC, with 0, 3, 6 or 9
// fractional digits. checkVSA has made sure it is in the Timestamp's range.
func protoTime(t time.Time) string {
	x := t.UTC().Format("2006-01-02T15:04:05.000000000")
	x = strings.TrimSuffix(x, "000")
	x = strings.TrimSuffix(x, "000")
	x = strings.TrimSuffix(x, ".000")
	return x + "Z"
}

// decisionMap is Custody's decision record as a JSON object: the fields of
// vsaDecisionJSON, empty ones left out.
func decisionMap(d VSADecision) map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"requestId": d.RequestID, "destination": d.Destination, "policyName": d.PolicyName} {
		if v != "" {
			m[k] = v
		}
	}
	if len(d.Reasons) > 0 {
		m["reasons"] = d.Reasons
	}
	if len(d.Requirements) > 0 {
		reqs := make([]any, len(d.Requirements))
		for i, r := range d.Requirements {
			rm := map[string]any{"name": r.Name, "status": r.Status, "required": r.Required}
			for k, v := range map[string]string{"predicateType": r.PredicateType, "code": r.Code, "reason": r.Reason, "attestationDigest": r.AttestationDigest} {
				if v != "" {
					rm[k] = v
				}
			}
			if len(r.KeyIDs) > 0 {
				rm["keyIds"] = r.KeyIDs
			}
			reqs[i] = rm
		}
		m["requirements"] = reqs
	}
	if len(d.RecordedAt) > 0 {
		at := make(map[string]string, len(d.RecordedAt))
		for k, t := range d.RecordedAt {
			at[k] = t.UTC().Format(time.RFC3339Nano)
		}
		m["recordedAt"] = at
	}
	return m
}

// ParseVSA reads a VSA statement as VSA makes it, strictly: the statement passes
// verify.ParseStatement (no duplicate keys, valid UTF-8, bounded nesting), has exactly
// one subject with a sha256 digest and the VSA v1 predicate type, the predicate decodes
// with the in-toto VSA v1 binding and has every field VSA requires, and Custody's
// decision record is present with no field it does not know. Standard predicate fields
// Custody does not read (dependencyLevels, slsaVersion, a policy's name) and other
// extension fields are ignored, as the in-toto parsing rules require; their types are
// still checked.
func ParseVSA(statement []byte) (*ParsedVSA, error) {
	if len(statement) > MaxVSASize {
		return nil, fmt.Errorf("vsa: statement of %d bytes exceeds %d", len(statement), MaxVSASize)
	}
	st, err := verify.ParseStatement(statement)
	if err != nil {
		return nil, fmt.Errorf("vsa: %w", err)
	}
	if st.GetType() != StatementTypeV1 {
		return nil, fmt.Errorf("vsa: statement type %q, want %s", st.GetType(), StatementTypeV1)
	}
	if st.GetPredicateType() != PredicateVSAV1 {
		return nil, fmt.Errorf("vsa: predicate type %q, want %s", st.GetPredicateType(), PredicateVSAV1)
	}
	if n := len(st.GetSubject()); n != 1 {
		return nil, fmt.Errorf("vsa: %d subjects, want exactly one", n)
	}
	sd := st.GetSubject()[0].GetDigest()
	if len(sd) != 1 || !isSHA256Hex(sd["sha256"]) {
		return nil, fmt.Errorf("vsa: subject digest %v is not exactly one sha256 of 64 lowercase hex", sd)
	}
	var outer struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	// ParseStatement refused unknown and duplicate keys, so "predicate" is the only
	// spelling left.
	if err := json.Unmarshal(statement, &outer); err != nil {
		return nil, fmt.Errorf("vsa: %w", err)
	}
	pred, err := object("predicate", outer.Predicate)
	if err != nil {
		return nil, fmt.Errorf("vsa: %w", err)
	}
	p, version, err := standardVSA(pred)
	if err != nil {
		return nil, fmt.Errorf("vsa: %w", err)
	}
	in := VSAInput{
		VerifierID:      p.GetVerifier().GetId(),
		VerifierVersion: version,
		Image:           p.GetResourceUri(),
		Digest:          "sha256:" + sd["sha256"],
		PolicyURI:       p.GetPolicy().GetUri(),
		VerifiedLevels:  p.GetVerifiedLevels(),
	}
	if p.GetTimeVerified() == nil {
		return nil, errors.New("vsa: predicate has no timeVerified")
	}
	if err := p.GetTimeVerified().CheckValid(); err != nil {
		return nil, fmt.Errorf("vsa: timeVerified: %w", err)
	}
	in.TimeVerified = p.GetTimeVerified().AsTime()
	switch p.GetVerificationResult() {
	case VSAPassed:
		in.Passed = true
	case VSAFailed:
	default:
		return nil, fmt.Errorf("vsa: verificationResult %q is neither %s nor %s", p.GetVerificationResult(), VSAPassed, VSAFailed)
	}
	if pd := p.GetPolicy().GetDigest(); len(pd) > 0 {
		if len(pd) != 1 || pd["sha256"] == "" {
			return nil, fmt.Errorf("vsa: policy digest %v is not exactly one sha256", pd)
		}
		in.PolicyDigest = "sha256:" + pd["sha256"]
	}
	if n := len(p.GetInputAttestations()); n > maxVSAList {
		return nil, fmt.Errorf("vsa: %d input attestations, more than %d", n, maxVSAList)
	}
	for i, a := range p.GetInputAttestations() {
		if d := a.GetDigest(); len(d) != 1 || d["sha256"] == "" {
			return nil, fmt.Errorf("vsa: input attestation %d digest %v is not exactly one sha256", i, d)
		}
		in.InputAttestations = append(in.InputAttestations, "sha256:"+a.GetDigest()["sha256"])
	}
	if in.Decision, err = parseDecision(pred[VSADecisionField]); err != nil {
		return nil, fmt.Errorf("vsa: %s: %w", VSADecisionField, err)
	}
	if err := checkVSA(in); err != nil {
		return nil, fmt.Errorf("vsa: %w", err)
	}
	return &ParsedVSA{VSAInput: in}, nil
}

// standardVSA decodes the predicate's standard fields with the in-toto VSA v1 binding.
// Only exact JSON names reach the binding (protojson would also take "resource_uri" for
// "resourceUri"), and fields the binding does not know (verifier.version, a policy's
// other ResourceDescriptor fields) are read here or dropped.
func standardVSA(pred map[string]json.RawMessage) (*vsapb.VerificationSummary, map[string]string, error) {
	for _, k := range []string{"verifier", "timeVerified", "resourceUri", "policy", "verificationResult", "verifiedLevels"} {
		if _, ok := pred[k]; !ok {
			return nil, nil, fmt.Errorf("predicate has no %s", k)
		}
	}
	clean := map[string]json.RawMessage{}
	for _, k := range []string{"timeVerified", "resourceUri", "verificationResult", "verifiedLevels", "dependencyLevels", "slsaVersion"} {
		if v, ok := pred[k]; ok {
			clean[k] = v
		}
	}
	verifier, err := object("verifier", pred["verifier"])
	if err != nil {
		return nil, nil, err
	}
	clean["verifier"] = pick(verifier, "id")
	var version map[string]string
	if v, ok := verifier["version"]; ok {
		if err := json.Unmarshal(v, &version); err != nil {
			return nil, nil, fmt.Errorf("verifier.version is not a map of strings: %w", err)
		}
		if len(version) == 0 {
			version = nil
		}
	}
	policy, err := object("policy", pred["policy"])
	if err != nil {
		return nil, nil, err
	}
	clean["policy"] = pick(policy, "uri", "digest")
	if v, ok := pred["inputAttestations"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, nil, fmt.Errorf("inputAttestations is not an array: %w", err)
		}
		var cleaned []json.RawMessage
		for i, item := range list {
			a, err := object(fmt.Sprintf("inputAttestations[%d]", i), item)
			if err != nil {
				return nil, nil, err
			}
			cleaned = append(cleaned, pick(a, "uri", "digest"))
		}
		b, err := json.Marshal(cleaned)
		if err != nil {
			return nil, nil, err
		}
		clean["inputAttestations"] = b
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, nil, err
	}
	var p vsapb.VerificationSummary
	if err := protojson.Unmarshal(b, &p); err != nil {
		return nil, nil, fmt.Errorf("predicate is not a SLSA VSA v1: %w", err)
	}
	return &p, version, nil
}

// object decodes raw as a JSON object (not null).
func object(name string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%s is not a JSON object", name)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// pick re-encodes the object m with only keys.
func pick(m map[string]json.RawMessage, keys ...string) json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	b, _ := json.Marshal(out) // values came from a decoded document
	return b
}

// exactKeys refuses keys outside known: Custody's extension is strict, and encoding/json
// would otherwise match "REQUESTID" to requestId.
func exactKeys(name string, m map[string]json.RawMessage, known []string) error {
	for k := range m {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%s has the unknown field %q (known: %s)", name, k, strings.Join(known, ", "))
		}
	}
	return nil
}

func parseDecision(raw json.RawMessage) (VSADecision, error) {
	if raw == nil {
		return VSADecision{}, errors.New("missing: not a VSA Custody made")
	}
	m, err := object("decision", raw)
	if err != nil {
		return VSADecision{}, err
	}
	if err := exactKeys("decision", m, vsaDecisionKeys); err != nil {
		return VSADecision{}, err
	}
	var reqs []json.RawMessage
	if r, ok := m["requirements"]; ok {
		if err := json.Unmarshal(r, &reqs); err != nil {
			return VSADecision{}, fmt.Errorf("requirements: %w", err)
		}
		if len(reqs) > maxVSAList {
			return VSADecision{}, fmt.Errorf("%d requirements, more than %d", len(reqs), maxVSAList)
		}
	}
	var d vsaDecisionJSON
	if err := json.Unmarshal(raw, &d); err != nil {
		return VSADecision{}, err
	}
	out := VSADecision{RequestID: d.RequestID, Destination: d.Destination, PolicyName: d.PolicyName}
	if len(d.Reasons) > 0 { // read back as VSA was given it: none is nil
		out.Reasons = d.Reasons
	}
	for i, r := range reqs {
		rm, err := object(fmt.Sprintf("requirements[%d]", i), r)
		if err != nil {
			return VSADecision{}, err
		}
		if err := exactKeys(fmt.Sprintf("requirements[%d]", i), rm, vsaRequirementKeys); err != nil {
			return VSADecision{}, err
		}
		rj := d.Requirements[i]
		if len(rj.KeyIDs) == 0 {
			rj.KeyIDs = nil
		}
		out.Requirements = append(out.Requirements, VSARequirement(rj))
	}
	if len(d.RecordedAt) > maxVSAList {
		return VSADecision{}, fmt.Errorf("%d recorded times, more than %d", len(d.RecordedAt), maxVSAList)
	}
	for k, v := range d.RecordedAt {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return VSADecision{}, fmt.Errorf("recordedAt[%s]: %w", k, err)
		}
		if out.RecordedAt == nil {
			out.RecordedAt = map[string]time.Time{}
		}
		out.RecordedAt[k] = t.UTC()
	}
	return out, nil
}

var slsaLevel = regexp.MustCompile(`^SLSA_([A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*)_LEVEL_(?:[0-9]+|UNEVALUATED)$`)

// checkVSA checks in as VSA needs it and as ParseVSA returns it.
func checkVSA(in VSAInput) error {
	var errs []error
	str := func(field, s string) {
		if !utf8.ValidString(s) {
			errs = append(errs, fmt.Errorf("%s is not valid UTF-8", field))
		} else if len(s) > maxVSAString {
			errs = append(errs, fmt.Errorf("%s is %d bytes, more than %d", field, len(s), maxVSAString))
		}
	}
	uri := func(field, s string) {
		str(field, s)
		if u, err := url.Parse(s); err != nil || u.Scheme == "" || strings.ContainsFunc(s, unicode.IsSpace) {
			errs = append(errs, fmt.Errorf("%s %.200q is not a URI with a scheme", field, s))
		}
	}
	digest := func(field, s string) {
		if !isSHA256Hex(strings.TrimPrefix(s, "sha256:")) || !strings.HasPrefix(s, "sha256:") {
			errs = append(errs, fmt.Errorf("%s %.100q is not sha256:<64 lowercase hex>", field, s))
		}
	}
	list := func(field string, n, limit int) bool {
		if n > limit {
			errs = append(errs, fmt.Errorf("%s has %d entries, more than %d", field, n, limit))
			return false
		}
		return true
	}
	required := func(field, s string) {
		if s == "" {
			errs = append(errs, fmt.Errorf("%s is required", field))
		}
	}

	uri("verifier id", in.VerifierID)
	if list("verifier version", len(in.VerifierVersion), 64) {
		for _, k := range slices.Sorted(maps.Keys(in.VerifierVersion)) {
			required("verifier version component name", k)
			str("verifier version component name", k)
			str("verifier version of "+k, in.VerifierVersion[k])
		}
	}
	digest("digest", in.Digest)
	required("image", in.Image)
	str("image", in.Image)
	if in.Passed && in.Image != "" {
		if name, d, _ := strings.Cut(in.Image, "@"); name == "" || d != in.Digest {
			errs = append(errs, fmt.Errorf("image %.200q of a PASSED VSA is not pinned by digest %s", in.Image, in.Digest))
		}
	}
	if in.TimeVerified.IsZero() {
		errs = append(errs, errors.New("time verified is required"))
	} else if err := timestamppb.New(in.TimeVerified).CheckValid(); err != nil {
		errs = append(errs, fmt.Errorf("time verified: %w", err))
	}
	uri("policy URI", in.PolicyURI)
	if in.PolicyDigest != "" || in.Passed {
		digest("policy digest", in.PolicyDigest)
	}
	if list("input attestations", len(in.InputAttestations), maxVSAList) {
		for i, d := range in.InputAttestations {
			digest(fmt.Sprintf("input attestation %d", i), d)
		}
	}
	checkLevels(in, &errs)

	d := in.Decision
	if in.Passed {
		required("decision request id", d.RequestID)
		required("decision destination", d.Destination)
		required("decision policy name", d.PolicyName)
	}
	str("decision request id", d.RequestID)
	str("decision destination", d.Destination)
	str("decision policy name", d.PolicyName)
	if list("decision reasons", len(d.Reasons), maxVSAList) {
		for i, r := range d.Reasons {
			str(fmt.Sprintf("decision reason %d", i), r)
		}
	}
	if list("decision requirements", len(d.Requirements), maxVSAList) {
		for i := range d.Requirements {
			r := d.Requirements[i]
			f := fmt.Sprintf("requirement %d", i)
			required(f+" name", r.Name)
			required(f+" status", r.Status)
			for _, fs := range [][2]string{{"name", r.Name}, {"predicate type", r.PredicateType}, {"status", r.Status}, {"code", r.Code}, {"reason", r.Reason}} {
				str(f+" "+fs[0], fs[1])
			}
			if r.AttestationDigest != "" {
				digest(f+" attestation digest", r.AttestationDigest)
			}
			if list(f+" key ids", len(r.KeyIDs), maxVSAList) {
				for j, k := range r.KeyIDs {
					required(fmt.Sprintf("%s key id %d", f, j), k)
					str(fmt.Sprintf("%s key id %d", f, j), k)
				}
			}
		}
	}
	if list("decision recorded times", len(d.RecordedAt), maxVSAList) {
		for _, k := range slices.Sorted(maps.Keys(d.RecordedAt)) {
			if !slices.Contains(in.InputAttestations, k) {
				errs = append(errs, fmt.Errorf("decision recorded time for %.100q, which is not an input attestation", k))
			}
			if t := d.RecordedAt[k]; t.IsZero() || t.Year() > 9999 || t.Year() < 1 {
				errs = append(errs, fmt.Errorf("decision recorded time for %.100q is %v, not a time between years 1 and 9999", k, t))
			}
		}
	}
	return errors.Join(errs...)
}

// checkLevels checks verifiedLevels against the spec: for FAILED, only "FAILED"; for
// PASSED, at most one level per SLSA track, and custom values not starting with SLSA_.
func checkLevels(in VSAInput, errs *[]error) {
	levels := in.VerifiedLevels
	if len(levels) > maxVSALevels {
		*errs = append(*errs, fmt.Errorf("verified levels has %d entries, more than %d", len(levels), maxVSALevels))
		return
	}
	if !in.Passed {
		if len(levels) > 1 || len(levels) == 1 && levels[0] != VSAFailed {
			*errs = append(*errs, fmt.Errorf("verified levels %q of a FAILED VSA: want none or [%s]", levels, VSAFailed))
		}
		return
	}
	tracks, seen := map[string]string{}, map[string]bool{}
	for _, l := range levels {
		if seen[l] {
			*errs = append(*errs, fmt.Errorf("verified level %.100q is given twice", l))
			continue
		}
		seen[l] = true
		switch {
		case l == VSAFailed:
			*errs = append(*errs, fmt.Errorf("verified level %s in a PASSED VSA", VSAFailed))
		case strings.HasPrefix(l, "SLSA_"):
			m := slsaLevel.FindStringSubmatch(l)
			if m == nil {
				*errs = append(*errs, fmt.Errorf("verified level %.100q starts with SLSA_ but is not SLSA_<TRACK>_LEVEL_<n|UNEVALUATED>", l))
			} else if prev, ok := tracks[m[1]]; ok {
				*errs = append(*errs, fmt.Errorf("verified levels %s and %s are both of track %s: give only the highest", prev, l, m[1]))
			} else {
				tracks[m[1]] = l
			}
		case l == "" || len(l) > 256 || !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			*errs = append(*errs, fmt.Errorf("verified level %.100q is not a non-empty word of at most 256 bytes", l))
		}
	}
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

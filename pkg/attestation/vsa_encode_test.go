package attestation

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	vsapb "github.com/in-toto/attestation/go/predicates/vsa/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// protojsonVSAPredicate is the reference VSA's predicate is checked against: the in-toto
// binding encoded with protojson, Custody's fields added, every key sorted (as VSA
// built it before it built maps directly).
func protojsonVSAPredicate(t *testing.T, in VSAInput) []byte {
	t.Helper()
	result, levels := VSAFailed, []string{VSAFailed}
	if in.Passed {
		result, levels = VSAPassed, append([]string{}, in.VerifiedLevels...)
	}
	p := &vsapb.VerificationSummary{
		Verifier:           &vsapb.VerificationSummary_Verifier{Id: in.VerifierID},
		TimeVerified:       timestamppb.New(in.TimeVerified),
		ResourceUri:        in.Image,
		Policy:             &vsapb.VerificationSummary_Policy{Uri: in.PolicyURI},
		VerificationResult: result,
		VerifiedLevels:     levels,
	}
	if in.PolicyDigest != "" {
		p.Policy.Digest = map[string]string{"sha256": strings.TrimPrefix(in.PolicyDigest, "sha256:")}
	}
	for _, d := range in.InputAttestations {
		p.InputAttestations = append(p.InputAttestations, &vsapb.VerificationSummary_InputAttestation{
			Digest: map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")},
		})
	}
	raw, err := protojson.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var pred map[string]any
	if err := json.Unmarshal(raw, &pred); err != nil {
		t.Fatal(err)
	}
	pred["verifiedLevels"] = levels
	if len(in.VerifierVersion) > 0 {
		pred["verifier"].(map[string]any)["version"] = in.VerifierVersion
	}
	d := in.Decision
	dj := vsaDecisionJSON{RequestID: d.RequestID, Destination: d.Destination, PolicyName: d.PolicyName, Reasons: d.Reasons}
	for _, r := range d.Requirements {
		dj.Requirements = append(dj.Requirements, vsaRequirementJSON(r))
	}
	if len(d.RecordedAt) > 0 {
		dj.RecordedAt = map[string]string{}
		for k, at := range d.RecordedAt {
			dj.RecordedAt[k] = at.UTC().Format(time.RFC3339Nano)
		}
	}
	pred[VSADecisionField] = dj
	out, err := json.Marshal(pred)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = canonical(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVSAPredicateMatchesProtojson(t *testing.T) {
	a, b := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	base := func() VSAInput {
		return VSAInput{
			VerifierID: "https://custody.dev/gate", Image: "r.example/staging/app@sha256:" + strings.Repeat("1", 64),
			Digest: "sha256:" + strings.Repeat("1", 64), TimeVerified: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
			PolicyURI: "urn:custody:policy:prod", PolicyDigest: "sha256:" + strings.Repeat("2", 64),
			InputAttestations: []string{a, b}, Passed: true,
			Decision: VSADecision{RequestID: "r-1", Destination: "r.example/prod/app", PolicyName: "prod",
				Reasons: []string{"ok <&>", "é"}, RecordedAt: map[string]time.Time{a: time.Date(2026, 3, 1, 11, 0, 0, 5, time.FixedZone("x", 3600))},
				Requirements: []VSARequirement{
					{Name: "p", PredicateType: "https://slsa.dev/provenance/v1", Status: "satisfied", Code: "satisfied", Reason: "r", AttestationDigest: a, KeyIDs: []string{"k1"}, Required: true},
					{Name: "s", Status: "missing"},
				}},
		}
	}
	cases := map[string]func(*VSAInput){
		"as is":            func(*VSAInput) {},
		"milliseconds":     func(in *VSAInput) { in.TimeVerified = in.TimeVerified.Add(123 * time.Millisecond) },
		"microseconds":     func(in *VSAInput) { in.TimeVerified = in.TimeVerified.Add(123456 * time.Microsecond) },
		"nanoseconds":      func(in *VSAInput) { in.TimeVerified = in.TimeVerified.Add(123456789) },
		"tens of ms":       func(in *VSAInput) { in.TimeVerified = in.TimeVerified.Add(120 * time.Millisecond) },
		"another zone":     func(in *VSAInput) { in.TimeVerified = in.TimeVerified.In(time.FixedZone("y", -5*3600)) },
		"verifier version": func(in *VSAInput) { in.VerifierVersion = map[string]string{"custody": "v1", "cel": "0.1"} },
		"levels":           func(in *VSAInput) { in.VerifiedLevels = []string{"SLSA_BUILD_LEVEL_3"} },
		"failed": func(in *VSAInput) {
			in.Passed, in.InputAttestations, in.PolicyDigest, in.Decision.RecordedAt = false, nil, "", nil
		},
		"least decision": func(in *VSAInput) { in.Decision = VSADecision{RequestID: "r", Destination: "d", PolicyName: "p"} },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			in := base()
			change(&in)
			out, err := VSA(in)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Predicate json.RawMessage `json:"predicate"`
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			if want := protojsonVSAPredicate(t, in); !bytes.Equal(doc.Predicate, want) {
				t.Errorf("predicate:\n%s\nwant (protojson):\n%s", doc.Predicate, want)
			}
		})
	}
}

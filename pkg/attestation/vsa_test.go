package attestation_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vsapb "github.com/in-toto/attestation/go/predicates/vsa/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	envA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	envB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	polD = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

func vsaInput() attestation.VSAInput {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return attestation.VSAInput{
		VerifierID:        "https://custody.dev/gate",
		VerifierVersion:   map[string]string{"custody": "v0.9.0", "cel-go": "v0.33.2"},
		Image:             "registry.example/staging/app@sha256:" + hexDigest,
		Digest:            "sha256:" + hexDigest,
		TimeVerified:      t0,
		PolicyURI:         "urn:custody:policy:prod",
		PolicyDigest:      polD,
		InputAttestations: []string{envA, envB},
		Passed:            true,
		VerifiedLevels:    []string{"SLSA_BUILD_LEVEL_2", "CUSTODY_SBOM_PRESENT"},
		Decision: attestation.VSADecision{
			RequestID:   "req-1",
			Destination: "registry.example/prod/app:v1",
			PolicyName:  "prod",
			Reasons:     []string{"provenance: satisfied", "sbom: satisfied <&>"},
			Requirements: []attestation.VSARequirement{
				{Name: "provenance", PredicateType: attestation.PredicateSLSAProvenanceV1, Status: "satisfied", Code: "satisfied",
					Reason: "ok", AttestationDigest: envA, KeyIDs: []string{"k1", "k2"}, Required: true},
				{Name: "sbom", PredicateType: attestation.PredicateCycloneDX, Status: "satisfied", Code: "satisfied", AttestationDigest: envB},
			},
			RecordedAt: map[string]time.Time{envA: t0.Add(-time.Minute), envB: t0.Add(-time.Second).In(time.FixedZone("X", 3600))},
		},
	}
}

// predicate returns the statement's predicate object.
func predicate(t *testing.T, st []byte) map[string]json.RawMessage {
	t.Helper()
	var doc struct {
		Predicate map[string]json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(st, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Predicate
}

func TestVSARoundTrip(t *testing.T) {
	in := vsaInput()
	out, err := attestation.VSA(in)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "vsa-passed.golden.json")
	if *update {
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, out, "", "  ")
		if err := os.WriteFile(golden, append(pretty.Bytes(), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, compact.Bytes()) {
		t.Errorf("VSA differs from %s (go test -update rewrites it):\n%s", golden, out)
	}

	// A valid in-toto statement about the digest, of the VSA predicate type.
	st, err := verify.ParseStatement(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetPredicateType() != attestation.PredicateVSAV1 || len(st.GetSubject()) != 1 ||
		st.GetSubject()[0].GetName() != "registry.example/staging/app" || st.GetSubject()[0].GetDigest()["sha256"] != hexDigest {
		t.Fatalf("statement = %v", st)
	}

	got, err := attestation.ParseVSA(out)
	if err != nil {
		t.Fatalf("ParseVSA: %v\n%s", err, out)
	}
	if d := cmp.Diff(in, got.VSAInput); d != "" {
		t.Fatalf("read back differently (-in +parsed):\n%s", d)
	}
	again, err := attestation.VSA(got.VSAInput)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("VSA of the parsed input differs: %v\n%s\n%s", err, again, out)
	}
}

func TestVSADeterministic(t *testing.T) {
	in := vsaInput()
	for i := range 50 {
		in.VerifierVersion[strings.Repeat("c", i%7+1)] = "v1"
		in.Decision.RecordedAt[envB] = in.Decision.RecordedAt[envB].Add(0)
	}
	first, err := attestation.VSA(in)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := attestation.VSA(in)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("VSA is not deterministic: %v\n%s\n%s", err, first, again)
		}
	}
	// The predicate is canonical: keys sorted at every level, no insignificant space.
	var doc struct{ Predicate json.RawMessage }
	_ = json.Unmarshal(first, &doc)
	var v any
	_ = json.Unmarshal(doc.Predicate, &v)
	canon, _ := json.Marshal(v)
	if !bytes.Equal(canon, doc.Predicate) {
		t.Fatalf("predicate not canonical:\n%s\n%s", doc.Predicate, canon)
	}
}

// The standard part of the predicate is what the in-toto VSA v1 binding decodes; the
// extension, and verifier.version (VSA 1.1, newer than the binding), are fields it does
// not know, which the in-toto parsing rules tell consumers to ignore.
func TestVSABinding(t *testing.T) {
	in := vsaInput()
	out, err := attestation.VSA(in)
	if err != nil {
		t.Fatal(err)
	}
	pred := predicate(t, out)
	full, _ := json.Marshal(pred)
	var p vsapb.VerificationSummary
	if err := protojson.Unmarshal(full, &p); err == nil {
		t.Fatal("strict binding decoded the extension: the test does not see it")
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(full, &p); err != nil {
		t.Fatalf("binding with DiscardUnknown: %v\n%s", err, full)
	}
	check := func(p *vsapb.VerificationSummary, result string, levels []string) {
		t.Helper()
		if p.GetVerifier().GetId() != in.VerifierID || !p.GetTimeVerified().AsTime().Equal(in.TimeVerified) ||
			p.GetResourceUri() != in.Image || p.GetPolicy().GetUri() != in.PolicyURI ||
			"sha256:"+p.GetPolicy().GetDigest()["sha256"] != in.PolicyDigest ||
			len(p.GetInputAttestations()) != 2 || "sha256:"+p.GetInputAttestations()[1].GetDigest()["sha256"] != envB ||
			p.GetVerificationResult() != result || !cmp.Equal(p.GetVerifiedLevels(), levels) {
			t.Fatalf("binding read %v", p)
		}
	}
	check(&p, "PASSED", in.VerifiedLevels)

	in.VerifierVersion = nil
	out, err = attestation.VSA(in)
	if err != nil {
		t.Fatal(err)
	}
	pred = predicate(t, out)
	if _, ok := pred[attestation.VSADecisionField]; !ok {
		t.Fatalf("no %s in %s", attestation.VSADecisionField, out)
	}
	delete(pred, attestation.VSADecisionField)
	bare, _ := json.Marshal(pred)
	var strict vsapb.VerificationSummary
	if err := protojson.Unmarshal(bare, &strict); err != nil {
		t.Fatalf("strict binding, without the extension: %v\n%s", err, bare)
	}
	check(&strict, "PASSED", in.VerifiedLevels)

	// The spec's JSON shape, read without the binding.
	var doc struct {
		Verifier struct {
			ID string `json:"id"`
		} `json:"verifier"`
		TimeVerified   string   `json:"timeVerified"`
		VerifiedLevels []string `json:"verifiedLevels"`
	}
	if err := json.Unmarshal(bare, &doc); err != nil || doc.Verifier.ID != in.VerifierID ||
		doc.TimeVerified != "2026-03-01T12:00:00.123456789Z" || len(doc.VerifiedLevels) != 2 {
		t.Fatalf("predicate %s: %+v %v", bare, doc, err)
	}
}

func TestVSAFailed(t *testing.T) {
	in := vsaInput()
	in.Passed = false
	in.VerifiedLevels, in.VerifierVersion = nil, nil
	// A denial before any policy was found: no policy digest, unpinned image, no request
	// context. It still makes a signed VSA.
	in.Image = "registry.example/staging/app:latest"
	in.PolicyURI, in.PolicyDigest = "urn:custody:policy:none", ""
	in.InputAttestations, in.Decision = nil, attestation.VSADecision{Reasons: []string{"policy: no policy for destination"}}
	out, err := attestation.VSA(in)
	if err != nil {
		t.Fatal(err)
	}
	pred := predicate(t, out)
	if string(pred["verificationResult"]) != `"FAILED"` || string(pred["verifiedLevels"]) != `["FAILED"]` {
		t.Fatalf("predicate = %s", out)
	}
	if _, ok := pred["inputAttestations"]; ok {
		t.Fatalf("inputAttestations present with none: %s", out)
	}
	delete(pred, attestation.VSADecisionField)
	bare, _ := json.Marshal(pred)
	var p vsapb.VerificationSummary
	if err := protojson.Unmarshal(bare, &p); err != nil || p.GetVerificationResult() != "FAILED" {
		t.Fatalf("binding: %v, %v", err, &p)
	}
	got, err := attestation.ParseVSA(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Passed || got.PolicyDigest != "" || got.Image != in.Image || !cmp.Equal(got.VerifiedLevels, []string{"FAILED"}) ||
		got.Decision.Reasons[0] != in.Decision.Reasons[0] {
		t.Fatalf("parsed %+v", got)
	}
	if again, err := attestation.VSA(got.VSAInput); err != nil || !bytes.Equal(again, out) {
		t.Fatalf("re-made FAILED VSA differs: %v", err)
	}
	in.VerifiedLevels = []string{"SLSA_BUILD_LEVEL_3"}
	if _, err := attestation.VSA(in); err == nil || !strings.Contains(err.Error(), "FAILED VSA") {
		t.Fatalf("a FAILED VSA claiming a level: %v", err)
	}
}

func TestVSARequired(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*attestation.VSAInput)
		want string
	}{
		{"verifier id", func(in *attestation.VSAInput) { in.VerifierID = "" }, "verifier id"},
		{"verifier id not a URI", func(in *attestation.VSAInput) { in.VerifierID = "custody gate" }, "verifier id"},
		{"image", func(in *attestation.VSAInput) { in.Image = "" }, "image is required"},
		{"image not pinned", func(in *attestation.VSAInput) { in.Image = "registry.example/app:v1" }, "not pinned by digest"},
		{"image pinned by another digest", func(in *attestation.VSAInput) { in.Image = "r/app@" + envA }, "not pinned by digest"},
		{"digest", func(in *attestation.VSAInput) { in.Digest = "" }, "digest"},
		{"digest uppercase", func(in *attestation.VSAInput) { in.Digest = strings.ToUpper(in.Digest) }, "digest"},
		{"time", func(in *attestation.VSAInput) { in.TimeVerified = time.Time{} }, "time verified is required"},
		{"time out of range", func(in *attestation.VSAInput) { in.TimeVerified = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time verified"},
		{"policy uri", func(in *attestation.VSAInput) { in.PolicyURI = "" }, "policy URI"},
		{"policy digest", func(in *attestation.VSAInput) { in.PolicyDigest = "" }, "policy digest"},
		{"policy digest bad", func(in *attestation.VSAInput) { in.PolicyDigest = "sha512:00" }, "policy digest"},
		{"input attestation", func(in *attestation.VSAInput) { in.InputAttestations = []string{"nope"} }, "input attestation 0"},
		{"request id", func(in *attestation.VSAInput) { in.Decision.RequestID = "" }, "request id is required"},
		{"destination", func(in *attestation.VSAInput) { in.Decision.Destination = "" }, "destination is required"},
		{"policy name", func(in *attestation.VSAInput) { in.Decision.PolicyName = "" }, "policy name is required"},
		{"requirement name", func(in *attestation.VSAInput) { in.Decision.Requirements[0].Name = "" }, "requirement 0 name"},
		{"requirement status", func(in *attestation.VSAInput) { in.Decision.Requirements[1].Status = "" }, "requirement 1 status"},
		{"requirement digest", func(in *attestation.VSAInput) { in.Decision.Requirements[1].AttestationDigest = "x" }, "requirement 1 attestation digest"},
		{"recorded time of another envelope", func(in *attestation.VSAInput) { in.Decision.RecordedAt["sha256:"+hexDigest] = time.Now() }, "not an input attestation"},
		{"zero recorded time", func(in *attestation.VSAInput) { in.Decision.RecordedAt[envA] = time.Time{} }, "recorded time"},
		{"invalid UTF-8", func(in *attestation.VSAInput) { in.Decision.Reasons = []string{"\xff"} }, "reason 0 is not valid UTF-8"},
		{"huge reason", func(in *attestation.VSAInput) { in.Decision.Reasons = []string{strings.Repeat("x", 1<<20)} }, "more than"},
		{"too many reasons", func(in *attestation.VSAInput) { in.Decision.Reasons = make([]string, 5000) }, "more than 1024"},
		{"statement too large", func(in *attestation.VSAInput) {
			in.Decision.Reasons = make([]string, 200)
			for i := range in.Decision.Reasons {
				in.Decision.Reasons[i] = strings.Repeat("y", 10000)
			}
		}, "exceeds"},
		{"FAILED level when passed", func(in *attestation.VSAInput) { in.VerifiedLevels = []string{"FAILED"} }, "FAILED in a PASSED VSA"},
		{"two levels of a track", func(in *attestation.VSAInput) {
			in.VerifiedLevels = []string{"SLSA_BUILD_LEVEL_3", "SLSA_BUILD_LEVEL_2"}
		}, "both of track BUILD"},
		{"custom SLSA_ value", func(in *attestation.VSAInput) { in.VerifiedLevels = []string{"SLSA_GOOD"} }, "starts with SLSA_"},
		{"level twice", func(in *attestation.VSAInput) { in.VerifiedLevels = []string{"X", "X"} }, "given twice"},
		{"empty level", func(in *attestation.VSAInput) { in.VerifiedLevels = []string{""} }, "non-empty word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := vsaInput()
			tc.edit(&in)
			out, err := attestation.VSA(in)
			if err == nil {
				t.Fatalf("VSA = %s, nil error", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
	// Allowed: no levels, SLSA levels of distinct tracks, UNEVALUATED, no version.
	for _, levels := range [][]string{nil, {"SLSA_BUILD_LEVEL_3", "SLSA_SOURCE_LEVEL_2"}, {"SLSA_BUILD_LEVEL_UNEVALUATED"}} {
		in := vsaInput()
		in.VerifiedLevels, in.VerifierVersion = levels, nil
		out, err := attestation.VSA(in)
		if err != nil {
			t.Fatalf("levels %q: %v", levels, err)
		}
		if levels == nil && string(predicate(t, out)["verifiedLevels"]) != "[]" {
			t.Fatalf("verifiedLevels is required even when empty: %s", out)
		}
	}
}

// replacePredicate returns the VSA for vsaInput with f applied to its predicate.
func replacePredicate(t *testing.T, f func(p map[string]any)) []byte {
	t.Helper()
	out, err := attestation.VSA(vsaInput())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc["predicate"].(map[string]any))
	b, _ := json.Marshal(doc)
	return b
}

func TestParseVSA(t *testing.T) {
	good, err := attestation.VSA(vsaInput())
	if err != nil {
		t.Fatal(err)
	}
	decision := func(p map[string]any) map[string]any { return p[attestation.VSADecisionField].(map[string]any) }

	// Ignored, as the in-toto parsing rules require: standard fields Custody does not
	// read, other ResourceDescriptor fields, other extensions.
	lenient := replacePredicate(t, func(p map[string]any) {
		p["dependencyLevels"] = map[string]any{"SLSA_BUILD_LEVEL_3": 5}
		p["slsaVersion"] = "1.1"
		p["https://example.com/other"] = map[string]any{"x": []any{1, 2}}
		p["policy"].(map[string]any)["name"] = "prod policy"
		p["inputAttestations"].([]any)[0].(map[string]any)["uri"] = "https://example.com/a"
		p["verifier"].(map[string]any)["futureField"] = true
	})
	if got, err := attestation.ParseVSA(lenient); err != nil || !cmp.Equal(got.VSAInput, vsaInput()) {
		t.Fatalf("ParseVSA with unknown fields = %+v, %v", got, err)
	}

	for _, tc := range []struct {
		name string
		st   []byte
		want string
	}{
		{"not JSON", []byte("nope"), "not JSON"},
		{"too large", append(good[:len(good)-1], append(bytes.Repeat([]byte(" "), attestation.MaxVSASize), '}')...), "exceeds"},
		{"other predicate type", bytes.Replace(good, []byte(attestation.PredicateVSAV1), []byte("https://slsa.dev/verification_summary/v0.2"), 1), "predicate type"},
		{"v0.1 statement", bytes.Replace(good, []byte("Statement/v1"), []byte("Statement/v0.1"), 1), "statement type"},
		{"two subjects", bytes.Replace(good, []byte(`"subject":[`), []byte(`"subject":[{"name":"x","digest":{"sha256":"`+strings.Repeat("e", 64)+`"}},`), 1), "2 subjects"},
		{"subject other digest algorithm", bytes.Replace(good, []byte(`"digest":{"sha256":"`+hexDigest), []byte(`"digest":{"sha512":"`+strings.Repeat("0", 128)+`","sha256":"`+hexDigest), 1), "exactly one sha256"},
		{"duplicate key", bytes.Replace(good, []byte(`"verificationResult":"PASSED"`), []byte(`"verificationResult":"FAILED","verificationResult":"PASSED"`), 1), "twice"},
		{"no verifier", replacePredicate(t, func(p map[string]any) { delete(p, "verifier") }), "no verifier"},
		{"null verifier", replacePredicate(t, func(p map[string]any) { p["verifier"] = nil }), "verifier is not a JSON object"},
		{"no verifier id", replacePredicate(t, func(p map[string]any) { p["verifier"] = map[string]any{} }), "verifier id"},
		{"verifier version not strings", replacePredicate(t, func(p map[string]any) { p["verifier"].(map[string]any)["version"] = map[string]any{"a": 1} }), "verifier.version"},
		{"no timeVerified", replacePredicate(t, func(p map[string]any) { delete(p, "timeVerified") }), "no timeVerified"},
		{"bad timeVerified", replacePredicate(t, func(p map[string]any) { p["timeVerified"] = "yesterday" }), "not a SLSA VSA v1"},
		{"no resourceUri", replacePredicate(t, func(p map[string]any) { delete(p, "resourceUri") }), "no resourceUri"},
		{"protobuf name resource_uri", replacePredicate(t, func(p map[string]any) {
			p["resource_uri"] = p["resourceUri"]
			delete(p, "resourceUri")
		}), "no resourceUri"},
		{"resourceUri of another image", replacePredicate(t, func(p map[string]any) { p["resourceUri"] = "r/app@" + envA }), "not pinned by digest"},
		{"no policy", replacePredicate(t, func(p map[string]any) { delete(p, "policy") }), "no policy"},
		{"no policy uri", replacePredicate(t, func(p map[string]any) { delete(p["policy"].(map[string]any), "uri") }), "policy URI"},
		{"policy digest of two algorithms", replacePredicate(t, func(p map[string]any) { p["policy"].(map[string]any)["digest"].(map[string]any)["md5"] = "00" }), "policy digest"},
		{"input attestation without digest", replacePredicate(t, func(p map[string]any) { p["inputAttestations"] = []any{map[string]any{"uri": "x"}} }), "input attestation 0 digest"},
		{"inputAttestations not a list", replacePredicate(t, func(p map[string]any) { p["inputAttestations"] = "x" }), "inputAttestations"},
		{"no verificationResult", replacePredicate(t, func(p map[string]any) { delete(p, "verificationResult") }), "no verificationResult"},
		{"lowercase passed", replacePredicate(t, func(p map[string]any) { p["verificationResult"] = "passed" }), "neither PASSED nor FAILED"},
		{"no verifiedLevels", replacePredicate(t, func(p map[string]any) { delete(p, "verifiedLevels") }), "no verifiedLevels"},
		{"FAILED with a level", replacePredicate(t, func(p map[string]any) { p["verificationResult"] = "FAILED" }), "FAILED VSA"},
		{"no decision", replacePredicate(t, func(p map[string]any) { delete(p, attestation.VSADecisionField) }), "not a VSA Custody made"},
		{"decision not an object", replacePredicate(t, func(p map[string]any) { p[attestation.VSADecisionField] = []any{} }), "not a JSON object"},
		{"unknown decision field", replacePredicate(t, func(p map[string]any) { decision(p)["validUntil"] = "x" }), `unknown field "validUntil"`},
		{"case variant decision field", replacePredicate(t, func(p map[string]any) {
			decision(p)["REQUESTID"] = decision(p)["requestId"]
			delete(decision(p), "requestId")
		}), `unknown field "REQUESTID"`},
		{"unknown requirement field", replacePredicate(t, func(p map[string]any) {
			decision(p)["requirements"].([]any)[0].(map[string]any)["Name"] = "x"
		}), `requirements[0] has the unknown field "Name"`},
		{"decision request id missing", replacePredicate(t, func(p map[string]any) { delete(decision(p), "requestId") }), "request id is required"},
		{"bad recorded time", replacePredicate(t, func(p map[string]any) { decision(p)["recordedAt"].(map[string]any)[envA] = "noon" }), "recordedAt"},
		{"required not a bool", replacePredicate(t, func(p map[string]any) {
			decision(p)["requirements"].([]any)[0].(map[string]any)["required"] = "yes"
		}), "bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := attestation.ParseVSA(tc.st)
			if err == nil {
				t.Fatalf("ParseVSA = %+v, nil error\n%s", got, tc.st)
			}
			if got != nil {
				t.Fatalf("error %v with a result", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// FuzzParseVSA: whatever ParseVSA accepts, VSA makes again and ParseVSA reads back the
// same. Seed corpus: testdata/fuzz/FuzzParseVSA.
func FuzzParseVSA(f *testing.F) {
	good, err := attestation.VSA(vsaInput())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	failed := vsaInput()
	failed.Passed, failed.VerifiedLevels, failed.PolicyDigest = false, nil, ""
	if b, err := attestation.VSA(failed); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, st []byte) {
		p, err := attestation.ParseVSA(st)
		if err != nil {
			if p != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		out, err := attestation.VSA(p.VSAInput)
		if err != nil {
			t.Fatalf("accepted a VSA that VSA cannot make again: %v\n%s", err, st)
		}
		back, err := attestation.ParseVSA(out)
		if err != nil {
			t.Fatalf("re-made VSA does not parse: %v\n%s", err, out)
		}
		if d := cmp.Diff(p, back); d != "" {
			t.Fatalf("round trip changed the VSA:\n%s", d)
		}
		again, _ := attestation.VSA(back.VSAInput)
		if !bytes.Equal(again, out) {
			t.Fatalf("not deterministic:\n%s\n%s", out, again)
		}
	})
}

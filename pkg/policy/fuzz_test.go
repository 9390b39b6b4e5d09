package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
)

// FuzzLoad feeds arbitrary documents to the loader: it must never panic, and whatever it
// accepts must be self-consistent, lint without panicking and deny when given no
// evidence. testdata/fuzz/FuzzLoad holds seeds with every field.
func FuzzLoad(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "policies", "*.y*ml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed policies in testdata/policies: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(policy.DefaultDevPolicyYAML))
	f.Add([]byte("apiVersion: custody.dev/v1\nkind: PromotionPolicy\nmetadata: {name: a}\nspec: {destinations: ['**'], requirements: [{name: r, predicateType: t, condition: 'true'}]}\n"))
	f.Add([]byte("apiVersion: custody.dev/v1\nkind: PromotionPolicy\nmetadata: {name: a}\nspec: {destinations: ['**'], requirements: [{name: r, predicateType: t, required: false, threshold: 3, maxAge: 1h}]}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a policy and an error")
			}
			return
		}
		if p.Name() == "" || !strings.HasPrefix(p.Digest(), "sha256:") || len(p.Requirements()) == 0 || len(p.Destinations()) == 0 {
			t.Fatalf("accepted an incomplete policy: %q", data)
		}
		required := false
		for _, r := range p.Requirements() {
			required = required || r.Required
			if r.Threshold < 1 || r.MaxAge < 0 {
				t.Fatalf("accepted threshold %d, maxAge %s", r.Threshold, r.MaxAge)
			}
		}
		if !required {
			t.Fatalf("accepted a policy that requires nothing: %q", data)
		}
		for _, w := range p.Waivers() {
			if w.Owner == "" || w.Reason == "" || w.Expires.IsZero() {
				t.Fatalf("accepted an incomplete waiver %+v", w)
			}
		}
		again, err := policy.Parse(p.Raw())
		if err != nil || again.Digest() != p.Digest() {
			t.Fatalf("re-parsing the raw document: %v", err)
		}
		_ = policy.Lint(p)
		d := p.Evaluate(context.Background(), policy.Input{
			Digest:      "sha256:" + strings.Repeat("0", 64),
			Destination: "registry.example.com/prod/app",
		})
		if d.Allowed {
			t.Fatalf("allowed with no evidence: %q", data)
		}
	})
}

// contentPolicy requires every predicate type whose content Evaluate reads, with
// conditions over the derived facts.
const contentPolicy = `apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: content}
spec:
  destinations: ["**"]
  waivers:
    - {id: CVE-2025-0001, owner: o, reason: r, expires: "2025-03-02T00:00:00Z"}
  requirements:
    - {name: p, predicateType: "https://slsa.dev/provenance/v1", required: false, maxAge: 24h, condition: 'predicate.runDetails.builder.id != ""'}
    - {name: c, predicateType: "https://cyclonedx.org/bom", required: false, condition: '!licenses.exists(l, l.contains("GPL"))'}
    - {name: v, predicateType: "https://in-toto.io/attestation/vulns/v0.2", required: false, maxAge: 24h, condition: 'vulns.all(v, severityRank(v.severity) < 3) && size(waivedVulns) >= 0'}
    - {name: s, predicateType: "https://custody.dev/attestations/secrets/v1", required: false, condition: 'secrets.all(s, s.deleted)'}
    - {name: a, predicateType: "https://slsa.dev/verification_summary/v1", required: false, condition: 'predicate.verificationResult == "PASSED"'}
    - {name: any, predicateType: "https://example.com/never"}
`

var contentTypes = []string{
	policy.PredicateSLSAProvenanceV1, policy.PredicateCycloneDX, policy.PredicateVulnsV02,
	policy.PredicateSecretsV1, policy.PredicateSLSAVSAV1,
}

// FuzzEvaluateContent feeds arbitrary predicates of the known types to Evaluate: it
// must not panic, and a requirement is satisfied only by a predicate that is JSON.
func FuzzEvaluateContent(f *testing.F) {
	p, err := policy.Parse([]byte(contentPolicy), policy.WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), []byte(`{"buildDefinition":{"buildType":"t","externalParameters":{"a":1}},"runDetails":{"builder":{"id":"b"},"metadata":{"finishedOn":"2025-03-01T11:00:00Z"}}}`))
	f.Add(uint8(1), []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"licenses":[{"license":{"id":"MIT"}},{"expression":"MIT OR GPL-2.0-only"}],"components":[{"licenses":[{"license":{"name":"x"}}]}]}]}`))
	f.Add(uint8(2), []byte(`{"scanner":{"uri":"u","db":{"lastUpdate":"2025-03-01T10:00:00Z"},"result":[{"id":"CVE-2025-0001","severity":[{"method":"rating","score":"critical"},{"method":"cvss_v3","score":"9.8"}],"annotations":[{"package":"pkg:golang/x@v1","status":"affected"}]}]},"metadata":{"scanStartedOn":"2025-03-01T10:00:00Z","scanFinishedOn":"2025-03-01T10:01:00Z"}}`))
	f.Add(uint8(3), []byte(`{"scanner":{"uri":"u","version":"1"},"ruleset":{"version":"1"},"status":"complete","stats":{},"findings":[],"truncated":false}`))
	f.Add(uint8(4), []byte(`{"verifier":{"id":"v"},"timeVerified":"2025-03-01T11:00:00Z","resourceUri":"r","verificationResult":"PASSED"}`))
	f.Add(uint8(0), []byte(`{"runDetails":{"metadata":{"finishedOn":"9999-12-31T23:59:59Z"}}}`))
	f.Add(uint8(1), []byte(`[]`))
	f.Fuzz(func(t *testing.T, kind uint8, predicate []byte) {
		typ := contentTypes[int(kind)%len(contentTypes)]
		img := digestOf("f0")
		payload := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"` +
			strings.TrimPrefix(img, "sha256:") + `"}}],"predicateType":"` + typ + `","predicate":` + string(predicate) + `}`)
		st := &intoto.Statement{}
		if err := protojson.Unmarshal(payload, st); err != nil {
			st = &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: typ,
				Subject: []*intoto.ResourceDescriptor{{Name: "x", Digest: map[string]string{"sha256": strings.TrimPrefix(img, "sha256:")}}}}
		}
		res := &verify.Result{
			EnvelopeDigest: digestOf("e0"), PayloadType: verify.PayloadTypeInToto, Statement: st, PredicateType: typ,
			KeyIDs: []string{strings.Repeat("a", 64)}, Payload: payload, SignedAt: now.Add(-time.Hour),
		}
		d := p.Evaluate(context.Background(), policy.Input{Digest: img, Destination: "r/x", Attestations: []*verify.Result{res}, Now: now})
		if d.Allowed || len(d.Requirements) != 6 {
			t.Fatalf("decision %+v", d)
		}
		for _, r := range d.Requirements {
			if r.Status == policy.StatusSatisfied && !json.Valid(predicate) {
				t.Fatalf("%s satisfied by a predicate that is not JSON: %q", r.Name, predicate)
			}
			if r.Code == "" || r.Reason == "" {
				t.Fatalf("%s: no code or reason", r.Name)
			}
		}
	})
}

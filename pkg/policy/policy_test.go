package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

func digestOf(s string) string {
	return "sha256:" + strings.Repeat(s, 64/len(s))[:64]
}

// keys are two trusted signers: release (named in the policies' authorities) and other.
type keys struct {
	release, other *signing.Signer
	verifier       *verify.Verifier
}

func newKeys(t testing.TB) keys {
	t.Helper()
	k := keys{release: signingtest.New(t), other: signingtest.New(t)}
	var trusted []verify.TrustedKey
	for name, s := range map[string]*signing.Signer{"release": k.release, "other": k.other} {
		tk, err := verify.ParseTrustedKeyPEM(name, s.PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		trusted = append(trusted, tk)
	}
	v, err := verify.NewVerifier(trusted)
	if err != nil {
		t.Fatal(err)
	}
	k.verifier = v
	return k
}

// attest signs statement with s and verifies it for digest, as the gate does.
func (k keys) attest(t *testing.T, s *signing.Signer, statement []byte, digest string) *verify.Result {
	t.Helper()
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, statement)
	if err != nil {
		t.Fatal(err)
	}
	res, err := k.verifier.Verify(context.Background(), env, digest)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

func provenance(t *testing.T, digest, builder string) []byte {
	t.Helper()
	st, err := attestation.Provenance(&eventsv1.BuildCompleted{
		Image:            "registry.example.com/staging/app@" + digest,
		Digest:           digest,
		SourceRepository: "https://git.example.com/org/app",
		Commit:           strings.Repeat("c", 40),
		BuilderId:        builder,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sbom(t *testing.T, digest string, components ...string) []byte {
	t.Helper()
	doc := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1}
	if components != nil {
		var cs []map[string]any
		for _, c := range components {
			cs = append(cs, map[string]any{"type": "library", "name": c})
		}
		doc["components"] = cs
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attestation.SBOM("registry.example.com/staging/app@"+digest, digest, raw)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const prodPolicy = `apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata:
  name: prod
spec:
  destinations: ["registry.example.com/prod/*"]
  authorities:
    - name: release
      keyIds: [%s]
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      condition: 'predicate.runDetails.builder.id in ["urn:custody:builder:release"]'
    - name: sbom
      predicateType: https://cyclonedx.org/bom
      condition: '!predicate.components.exists(c, c.name == "log4j-core")'
`

func mustParse(t *testing.T, doc string, opts ...policy.Option) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc), opts...)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestEvaluate(t *testing.T) {
	k := newKeys(t)
	p := mustParse(t, fmt.Sprintf(prodPolicy, k.release.KeyID()))
	img, otherImg := digestOf("a1"), digestOf("b2")
	const dest = "registry.example.com/prod/app"

	goodProv := k.attest(t, k.release, provenance(t, img, "urn:custody:builder:release"), img)
	badProv := k.attest(t, k.release, provenance(t, img, "urn:evil:builder"), img)
	cleanSBOM := k.attest(t, k.release, sbom(t, img, "openssl", "zlib"), img)
	log4jSBOM := k.attest(t, k.release, sbom(t, img, "log4j-core"), img)
	emptySBOM := k.attest(t, k.release, sbom(t, img), img)
	otherKeyProv := k.attest(t, k.other, provenance(t, img, "urn:custody:builder:release"), img)
	otherKeySBOM := k.attest(t, k.other, sbom(t, img, "zlib"), img)
	otherImgProv := k.attest(t, k.release, provenance(t, otherImg, "urn:custody:builder:release"), otherImg)

	tests := []struct {
		name         string
		digest, dest string
		atts         []*verify.Result
		wantAllowed  bool
		wantStatus   []policy.Status
		wantCodes    []string
		wantUsed     []string
		wantPending  bool
		wantReasons  []string // substrings, one per reason
	}{
		{
			name: "provenance and clean SBOM from the release key", digest: img, dest: dest,
			atts:        []*verify.Result{goodProv, cleanSBOM},
			wantAllowed: true,
			wantStatus:  []policy.Status{policy.StatusSatisfied, policy.StatusSatisfied},
			wantCodes:   []string{policy.CodeSatisfied, policy.CodeSatisfied},
			wantUsed:    []string{goodProv.EnvelopeDigest, cleanSBOM.EnvelopeDigest},
			wantReasons: []string{
				"provenance: satisfied by " + goodProv.EnvelopeDigest + " signed by " + k.release.KeyID(),
				"sbom: satisfied by " + cleanSBOM.EnvelopeDigest,
			},
		},
		{
			name: "one good provenance among bad ones is enough", digest: img, dest: dest,
			atts:        []*verify.Result{badProv, cleanSBOM, goodProv},
			wantAllowed: true,
			wantStatus:  []policy.Status{policy.StatusSatisfied, policy.StatusSatisfied},
			wantUsed:    []string{goodProv.EnvelopeDigest, cleanSBOM.EnvelopeDigest},
			wantReasons: []string{"provenance: satisfied by " + goodProv.EnvelopeDigest, "sbom: satisfied"},
		},
		{
			name: "untrusted builder id", digest: img, dest: dest,
			atts:        []*verify.Result{badProv, cleanSBOM},
			wantStatus:  []policy.Status{policy.StatusFailed, policy.StatusSatisfied},
			wantCodes:   []string{policy.CodeConditionFalse, policy.CodeSatisfied},
			wantReasons: []string{"provenance: condition false for all 1 attestations of type https://slsa.dev/provenance/v1", "sbom: satisfied"},
		},
		{
			name: "missing SBOM", digest: img, dest: dest,
			atts:        []*verify.Result{goodProv},
			wantStatus:  []policy.Status{policy.StatusSatisfied, policy.StatusMissing},
			wantCodes:   []string{policy.CodeSatisfied, policy.CodeMissing},
			wantPending: true,
			wantReasons: []string{"provenance: satisfied", "sbom: no verified attestation of type https://cyclonedx.org/bom about " + img},
		},
		{
			name: "no evidence at all", digest: img, dest: dest,
			wantStatus:  []policy.Status{policy.StatusMissing, policy.StatusMissing},
			wantPending: true,
			wantReasons: []string{"provenance: no verified attestation", "sbom: no verified attestation"},
		},
		{
			name: "signed by a trusted key outside the policy's authorities", digest: img, dest: dest,
			atts:        []*verify.Result{otherKeyProv, otherKeySBOM},
			wantStatus:  []policy.Status{policy.StatusMissing, policy.StatusMissing},
			wantCodes:   []string{policy.CodeUnauthorizedSigner, policy.CodeUnauthorizedSigner},
			wantPending: true,
			wantReasons: []string{"provenance: no verified attestation", "1 signed only by keys outside the policy's authorities"},
		},
		{
			name: "attestation about another image", digest: img, dest: dest,
			atts:        []*verify.Result{otherImgProv, cleanSBOM},
			wantStatus:  []policy.Status{policy.StatusMissing, policy.StatusSatisfied},
			wantCodes:   []string{policy.CodeOtherSubject, policy.CodeSatisfied},
			wantPending: true,
			wantReasons: []string{"provenance: no verified attestation of type https://slsa.dev/provenance/v1 about " + img + " (1 about another subject)", "sbom: satisfied"},
		},
		{
			name: "SBOM lists a banned component", digest: img, dest: dest,
			atts:        []*verify.Result{goodProv, log4jSBOM},
			wantStatus:  []policy.Status{policy.StatusSatisfied, policy.StatusFailed},
			wantReasons: []string{"provenance: satisfied", "sbom: condition false for all 1 attestations"},
		},
		{
			name: "condition runtime error denies", digest: img, dest: dest,
			atts:        []*verify.Result{goodProv, emptySBOM},
			wantStatus:  []policy.Status{policy.StatusSatisfied, policy.StatusFailed},
			wantCodes:   []string{policy.CodeSatisfied, policy.CodeConditionError},
			wantReasons: []string{"provenance: satisfied", "sbom: condition not met by any of 1 attestations of type https://cyclonedx.org/bom: false for 0; error on " + emptySBOM.EnvelopeDigest + ": no such key: components"},
		},
		{
			name: "nil and forged results count for nothing", digest: img, dest: dest,
			atts:        []*verify.Result{nil, {EnvelopeDigest: goodProv.EnvelopeDigest, PredicateType: goodProv.PredicateType, Statement: goodProv.Statement}, cleanSBOM},
			wantStatus:  []policy.Status{policy.StatusMissing, policy.StatusSatisfied},
			wantCodes:   []string{policy.CodeMissing, policy.CodeSatisfied},
			wantPending: true,
			wantReasons: []string{"provenance: no verified attestation of type https://slsa.dev/provenance/v1 about " + img + " (2 unusable (not a verified result))", "sbom: satisfied"},
		},
		{
			name: "destination outside the policy", digest: img, dest: "registry.example.com/dev/app",
			atts:        []*verify.Result{goodProv, cleanSBOM},
			wantReasons: []string{`policy prod does not govern destination "registry.example.com/dev/app"`},
		},
		{
			name: "digest not sha256", digest: "sha512:abc", dest: dest,
			atts:        []*verify.Result{goodProv, cleanSBOM},
			wantReasons: []string{`image digest "sha512:abc" is not sha256:<64 lowercase hex>`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Evaluate(context.Background(), policy.Input{Digest: tt.digest, Destination: tt.dest, Attestations: tt.atts})
			if d.Allowed != tt.wantAllowed {
				t.Errorf("Allowed = %v, want %v; reasons %q", d.Allowed, tt.wantAllowed, d.Reasons)
			}
			if d.PolicyName != "prod" || d.PolicyDigest != p.Digest() || !strings.HasPrefix(d.PolicyDigest, "sha256:") {
				t.Errorf("policy = %s %s, want prod %s", d.PolicyName, d.PolicyDigest, p.Digest())
			}
			var status []policy.Status
			for _, r := range d.Requirements {
				status = append(status, r.Status)
			}
			if diff := cmp.Diff(tt.wantStatus, status); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if tt.wantCodes != nil {
				var codes []string
				for _, r := range d.Requirements {
					codes = append(codes, r.Code)
					if !r.Required {
						t.Errorf("requirement %s is not marked required", r.Name)
					}
				}
				if diff := cmp.Diff(tt.wantCodes, codes); diff != "" {
					t.Errorf("codes (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.wantUsed, d.AttestationDigests); diff != "" {
				t.Errorf("AttestationDigests (-want +got):\n%s", diff)
			}
			if d.Pending() != tt.wantPending {
				t.Errorf("Pending() = %v, want %v", d.Pending(), tt.wantPending)
			}
			if len(d.Reasons) != max(len(tt.wantReasons), len(d.Requirements)) {
				t.Errorf("reasons %q: want one per requirement", d.Reasons)
			}
			for i, want := range tt.wantReasons {
				found := false
				for _, r := range d.Reasons {
					if strings.Contains(r, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("reason %d: no reason contains %q; reasons %q", i, want, d.Reasons)
				}
			}
			if _, err := json.Marshal(d); err != nil {
				t.Errorf("decision does not serialise: %v", err)
			}
		})
	}
}

func TestEvaluateVariablesAndLimits(t *testing.T) {
	k := newKeys(t)
	img := digestOf("c3")
	prov := k.attest(t, k.release, provenance(t, img, "urn:custody:builder:dev"), img)
	many := make([]string, 60)
	for i := range many {
		many[i] = fmt.Sprintf("pkg-%d", i)
	}
	big := k.attest(t, k.release, sbom(t, img, many...), img)

	doc := func(predicateType, condition string) string {
		return fmt.Sprintf(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: vars}
spec:
  destinations: ["**"]
  requirements:
    - name: check
      predicateType: %s
      condition: %q
`, predicateType, condition)
	}
	tests := []struct {
		name      string
		doc       string
		opts      []policy.Option
		att       *verify.Result
		ctx       func() context.Context
		wantAllow bool
		wantIn    string
	}{
		{
			name: "subject, predicateType, keyIds and statement are bound",
			doc: doc(attestation.PredicateSLSAProvenanceV1,
				`subject == "`+img+`" && predicateType == "https://slsa.dev/provenance/v1" && "`+k.release.KeyID()+`" in keyIds && statement.subject[0].digest.sha256 == "`+strings.TrimPrefix(img, "sha256:")+`"`),
			att: prov, wantAllow: true,
		},
		{
			name: "numbers compare across int and double",
			doc:  doc(attestation.PredicateCycloneDX, `size(predicate.components) > 50 && predicate.version == 1 && predicate.version < 1.5`),
			att:  big, wantAllow: true,
		},
		{
			name:   "cost limit exceeded denies",
			doc:    doc(attestation.PredicateCycloneDX, `predicate.components.all(a, predicate.components.all(b, a.name != "" && b.name != ""))`),
			opts:   []policy.Option{policy.WithCostLimit(1000)},
			att:    big,
			wantIn: "cost limit exceeded",
		},
		{
			name:   "cancelled context denies",
			doc:    doc(attestation.PredicateSLSAProvenanceV1, `predicate.runDetails.builder.id == "urn:custody:builder:dev"`),
			att:    prov,
			ctx:    func() context.Context { c, cancel := context.WithCancel(context.Background()); cancel(); return c },
			wantIn: "context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.doc, tt.opts...)
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			d := p.Evaluate(ctx, policy.Input{Digest: img, Destination: "r.example/x", Attestations: []*verify.Result{tt.att}})
			if d.Allowed != tt.wantAllow {
				t.Fatalf("Allowed = %v, want %v: %q", d.Allowed, tt.wantAllow, d.Reasons)
			}
			if tt.wantIn != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), tt.wantIn) {
				t.Errorf("reasons %q do not mention %q", d.Reasons, tt.wantIn)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	valid := `apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata:
  name: ok
spec:
  destinations: ["**"]
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      condition: 'predicate.runDetails.builder.id == "x"'
`
	if _, err := policy.Parse([]byte(valid)); err != nil {
		t.Fatalf("the base document must parse: %v", err)
	}
	tests := []struct {
		name, doc, wantIn string
	}{
		{"unknown field", strings.Replace(valid, "  name: ok", "  name: ok\n  labels: {a: b}", 1), `unknown field "labels"`},
		{"unknown spec field", valid + "  maxAgee: 1h\n", `unknown field "maxAgee"`},
		{"wrong apiVersion", strings.Replace(valid, "custody.dev/v1", "custody.dev/v2", 1), `apiVersion "custody.dev/v2"`},
		{"wrong kind", strings.Replace(valid, "PromotionPolicy", "Policy", 1), `kind "Policy"`},
		{"bad name", strings.Replace(valid, "name: ok", "name: Not_OK", 1), `metadata.name "Not_OK"`},
		{"no destinations", strings.Replace(valid, `destinations: ["**"]`, `destinations: []`, 1), "spec.destinations: name at least one"},
		{"bad pattern", strings.Replace(valid, `["**"]`, `["reg/[a"]`, 1), "malformed glob"},
		{"partial double star", strings.Replace(valid, `["**"]`, `["reg/a**"]`, 1), `"**" must be a whole segment`},
		{"no requirements", strings.SplitAfter(valid, `["**"]`)[0] + "\n  requirements: []\n", "a policy that requires nothing"},
		{"condition not bool", strings.Replace(valid, `== "x"`, ``, 1), "has type dyn, want bool"},
		{"condition string", strings.Replace(valid, `predicate.runDetails.builder.id == "x"`, `"yes"`, 1), "has type string, want bool"},
		{"condition syntax", strings.Replace(valid, `== "x"`, `== `, 1), "Syntax error"},
		{"unknown variable", strings.Replace(valid, `predicate.runDetails`, `envelope.runDetails`, 1), "undeclared reference to 'envelope'"},
		{"undeclared authority", strings.Replace(valid, "      condition:", "      authorities: [ghost]\n      condition:", 1), `authorities[0] "ghost": not declared`},
		{"bad key id", strings.Replace(valid, "  requirements:", "  authorities: [{name: dev, keyIds: [ABC]}]\n  requirements:", 1), `keyIds[0] "ABC": want 64 lowercase hex`},
		{"duplicate requirement", valid + "    - name: provenance\n      predicateType: https://cyclonedx.org/bom\n", `"provenance": duplicate`},
		{"two documents", valid + "---\n" + valid, "more than one YAML document"},
		{"empty", "", "empty document"},
		{"not yaml", "{{{", "decode"},
		{"too large", valid + "# " + strings.Repeat("x", policy.MaxDocumentSize) + "\n", "exceeds the 65536-byte limit"},
		{"duplicate key", valid + "kind: PromotionPolicy\n", "already set"},
		{"threshold zero", valid + "      threshold: 0\n", "threshold 0: want 1-2048"},
		{"threshold above the authorities' keys", strings.Replace(valid, "  requirements:", "  authorities: [{name: dev, keyIds: ["+strings.Repeat("a", 64)+"]}]\n  requirements:", 1) + "      threshold: 2\n",
			"threshold 2: its authorities hold only 1 distinct keys"},
		{"threshold not a number", valid + "      threshold: two\n", "decode"},
		{"maxAge in days", valid + "      maxAge: 30d\n", `maxAge "30d": want a duration`},
		{"maxAge negative", valid + "      maxAge: -1h\n", "want a positive duration"},
		{"required not a bool", valid + "      required: maybe\n", "decode"},
		{"nothing required", valid + "      required: false\n", "every requirement is required: false"},
		{"misspelt fact field", strings.Replace(valid, `predicate.runDetails.builder.id == "x"`, `vulns.all(v, v.severty != "critical")`, 1), "undefined field 'severty'"},
		{"unknown severity literal", strings.Replace(valid, `predicate.runDetails.builder.id == "x"`, `vulns.all(v, severityRank(v.severity) < severityRank("hgih"))`, 1), `severityRank("hgih")`},
		{"severityRank of a number", strings.Replace(valid, `predicate.runDetails.builder.id == "x"`, `severityRank(3) > 1`, 1), "found no matching overload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.doc))
			if !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want ErrInvalid", p, err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not contain %q", err, tt.wantIn)
			}
		})
	}
}

func TestParseTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "policies", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata policies: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := policy.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(f)
			if string(p.Raw()) != string(raw) || len(p.Requirements()) == 0 || len(p.Destinations()) == 0 {
				t.Errorf("policy %s: raw/requirements/destinations not kept", p.Name())
			}
		})
	}
}

func TestDefaultDevPolicy(t *testing.T) {
	k := newKeys(t)
	p := mustParse(t, string(policy.DefaultDevPolicy()))
	img := digestOf("d4")
	dev := k.attest(t, k.other, provenance(t, img, "urn:custody:builder:dev"), img)
	ci := k.attest(t, k.other, provenance(t, img, "urn:custody:builder:ci"), img)
	bom := k.attest(t, k.release, sbom(t, img, "zlib"), img)
	for _, tt := range []struct {
		name string
		atts []*verify.Result
		want bool
	}{
		{"dev builder and SBOM from any trusted key", []*verify.Result{dev, bom}, true},
		{"another builder", []*verify.Result{ci, bom}, false},
		{"no SBOM", []*verify.Result{dev}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Evaluate(context.Background(), policy.Input{Digest: img, Destination: "127.0.0.1:5000/prod/app", Attestations: tt.atts})
			if d.Allowed != tt.want {
				t.Errorf("Allowed = %v, want %v: %q", d.Allowed, tt.want, d.Reasons)
			}
		})
	}
}

// The compose deployment ships a policy file; it must load and match the dev default.
func TestComposePolicyMatchesDevDefault(t *testing.T) {
	data, err := os.ReadFile("../../deploy/compose/policies/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := policy.Parse(data)
	if err != nil {
		t.Fatalf("compose policy: %v", err)
	}
	want, err := policy.Parse(policy.DefaultDevPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Requirements(), got.Requirements()); diff != "" || got.Name() != want.Name() {
		t.Errorf("compose policy differs from the dev default (-dev +compose):\n%s", diff)
	}
}

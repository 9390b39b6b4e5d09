package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// now is the decision time of the tests that use fixed times; recorded is when the
// ledger recorded their envelopes.
var (
	now      = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	recorded = now.Add(-time.Hour)
)

const testImage = "registry.example.com/staging/app"

// attestAt signs statement with s and verifies it for digest with the ledger's
// recorded time at, as the gate does.
func (k keys) attestAt(t testing.TB, s *signing.Signer, statement []byte, digest string, at time.Time) *verify.Result {
	t.Helper()
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, statement)
	if err != nil {
		t.Fatal(err)
	}
	res, err := k.verifier.Verify(context.Background(), env, digest, verify.SignedAt(at))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

// build is a build event with every field a provenance condition may read; finished is
// the time the build claims to have finished.
func build(digest, builder string, finished time.Time) *eventsv1.BuildCompleted {
	return &eventsv1.BuildCompleted{
		Image:            testImage + "@" + digest,
		Digest:           digest,
		SourceRepository: "https://git.example.com/org/app",
		SourceRef:        "refs/heads/main",
		Commit:           strings.Repeat("c", 40),
		BuilderId:        builder,
		StartedAt:        timestamppb.New(finished.Add(-10 * time.Minute)),
		FinishedAt:       timestamppb.New(finished),
		InvocationId:     "run-1",
	}
}

func provenanceOf(t testing.TB, b *eventsv1.BuildCompleted) []byte {
	t.Helper()
	st, err := attestation.Provenance(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sbomLicensed is a CycloneDX SBOM whose components carry the licenses given, one
// component each; an entry with a space is written as an SPDX expression.
func sbomLicensed(t testing.TB, digest string, licenses ...string) []byte {
	t.Helper()
	comps := []map[string]any{}
	for i, l := range licenses {
		entry := map[string]any{"license": map[string]any{"id": l}}
		if strings.Contains(l, " ") {
			entry = map[string]any{"expression": l}
		}
		comps = append(comps, map[string]any{"type": "library", "name": "c" + string(rune('a'+i)), "licenses": []any{entry}})
	}
	doc := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": comps}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attestation.SBOM(testImage+"@"+digest, digest, raw)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// finding is a vulnerability in a Go package, affected unless status says otherwise.
func finding(id, alias, pkg, rating string, base float64) vuln.Finding {
	f := vuln.Finding{
		ID: id, PURL: "pkg:golang/" + pkg + "@v1.0.0", Ecosystem: "Go", Name: pkg, Version: "v1.0.0",
		Fixed: []string{"v1.0.1"}, Status: vuln.StatusAffected,
		Severity: vuln.Score{Type: "CVSS_V3", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Base: base, Rating: rating},
	}
	if alias != "" {
		f.Aliases = []string{alias}
	}
	return f
}

// vulnsScan is a vulns v0.2 statement about digest for findings, scanned at finished.
func vulnsScan(t testing.TB, digest string, finished time.Time, findings ...vuln.Finding) []byte {
	t.Helper()
	pred, err := vuln.NewPredicate(&vuln.Report{Findings: findings}, vuln.ScanInfo{
		ScannerURI: "pkg:github/custody-dev/custody", ScannerVersion: "v0.1.0", DBURI: "https://osv.dev",
		DBLastUpdate: finished.Add(-time.Hour), StartedOn: finished.Add(-time.Minute), FinishedOn: finished,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := attestation.ScanResult(testImage+"@"+digest, digest, attestation.PredicateVulnsV02, pred)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// secretsScan is a secrets v1 statement about digest with findings at paths.
func secretsScan(t testing.TB, digest string, failed bool, paths ...string) []byte {
	t.Helper()
	var fs []secrets.Finding
	for i, p := range paths {
		fs = append(fs, secrets.Finding{
			RuleID: "aws-access-key-id", Title: "AWS access key", Severity: secrets.SeverityCritical, Path: p,
			Layer: "sha256:" + strings.Repeat("1", 64), LayerIndex: i, Line: 1, Fingerprint: strings.Repeat("ab", 16),
		})
	}
	pred, err := secrets.Predicate(secrets.Report{Findings: fs}, secrets.PredicateMeta{
		ScannerURI: "https://custody.dev/scanner", ScannerVersion: "v0.1.0", Failed: failed,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := attestation.ScanResult(testImage+"@"+digest, digest, attestation.PredicateSecretsV1, pred)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// rawStatement is an in-toto statement about digest with any predicate type and
// predicate, for content the builders refuse to write.
func rawStatement(t testing.TB, digest, predicateType string, predicate any) []byte {
	t.Helper()
	st, err := json.Marshal(map[string]any{
		"_type":         attestation.StatementTypeV1,
		"subject":       []any{map[string]any{"name": testImage, "digest": map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// policyDoc is a one-requirement policy over any destination; extra is YAML indented
// for a requirement's fields, spec is YAML indented for spec's.
func policyDoc(predicateType, condition, extra, spec string) string {
	doc := "apiVersion: custody.dev/v1\nkind: PromotionPolicy\nmetadata: {name: t}\nspec:\n  destinations: [\"**\"]\n" + spec +
		"  requirements:\n    - name: check\n      predicateType: " + predicateType + "\n"
	if condition != "" {
		c, _ := json.Marshal(condition)
		doc += "      condition: " + string(c) + "\n"
	}
	return doc + extra
}

// evalAt evaluates atts three ways, which must agree (it panics otherwise): as they are;
// with their contents read beforehand (policy.ReadContent, as the gate hands them over);
// and with contents filed under the wrong envelopes, which Evaluate must not use.
func evalAt(p *policy.Policy, digest string, at time.Time, atts ...*verify.Result) policy.Decision {
	in := policy.Input{Digest: digest, Destination: "r.example/x", Attestations: atts, Now: at}
	d := p.Evaluate(context.Background(), in)
	in.Contents = map[string]*policy.Content{}
	for _, a := range atts {
		if a != nil {
			in.Contents[a.EnvelopeDigest] = policy.ReadContent(a)
		}
	}
	if pre := p.Evaluate(context.Background(), in); !reflect.DeepEqual(pre, d) {
		panic(fmt.Sprintf("contents read beforehand changed the decision:\n%+v\nwithout them:\n%+v", pre, d))
	}
	if len(atts) > 1 && atts[0] != nil && atts[1] != nil {
		in.Contents = map[string]*policy.Content{}
		for i, a := range atts {
			if a != nil {
				in.Contents[atts[(i+1)%len(atts)].EnvelopeDigest] = policy.ReadContent(a)
			}
		}
		if wrong := p.Evaluate(context.Background(), in); !reflect.DeepEqual(wrong, d) {
			panic(fmt.Sprintf("contents of other envelopes changed the decision:\n%+v\nwithout them:\n%+v", wrong, d))
		}
	}
	return d
}

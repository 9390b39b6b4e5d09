package policy_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
)

// TestConditionExamples runs the conditions the package documentation gives for each
// kind of check over statements the producers write, one that passes and one that
// fails, and checks the documentation still shows them.
func TestConditionExamples(t *testing.T) {
	k := newKeys(t)
	img := digestOf("a7")
	at := func(st []byte) *verify.Result { return k.attestAt(t, k.release, st, img, recorded) }
	finished := recorded.Add(-time.Minute)

	release := build(img, "urn:custody:builder:release", finished)
	otherBuilder := build(img, "urn:custody:builder:dev", finished)
	otherRepo := build(img, "urn:custody:builder:release", finished)
	otherRepo.SourceRepository = "https://git.example.com/fork/app"
	otherRef := build(img, "urn:custody:builder:release", finished)
	otherRef.SourceRef = "refs/heads/feature"
	otherType := build(img, "urn:custody:builder:release", finished)
	otherType.BuildType = "https://example.com/buildtypes/custom/v1"

	// The external-parameter allow-list: Custody writes only "source"; a provenance with
	// another top-level parameter (here "extra") fails it.
	prov := string(provenanceOf(t, release))
	extraParam := strings.Replace(prov, `"externalParameters":{`, `"externalParameters":{"extra":{"x":1},`, 1)
	if extraParam == prov {
		t.Fatal("could not add an external parameter to the provenance")
	}

	medium := finding("CVE-2025-0001", "GHSA-aaaa-aaaa-aaaa", "example.com/a", vuln.RatingMedium, 5.3)
	high := finding("CVE-2025-0002", "", "example.com/b", vuln.RatingHigh, 7.5)
	critical := finding("CVE-2025-0003", "", "example.com/c", vuln.RatingCritical, 9.8)
	unrated := finding("CVE-2025-0004", "", "example.com/d", vuln.RatingUnknown, 0)
	unrated.Severity = vuln.Score{Rating: vuln.RatingUnknown}

	tests := []struct {
		name, predicateType, condition string
		pass, fail                     []byte
	}{
		{"builder id", attestation.PredicateSLSAProvenanceV1,
			`predicate.runDetails.builder.id == "urn:custody:builder:release"`,
			provenanceOf(t, release), provenanceOf(t, otherBuilder)},
		{"source repository", attestation.PredicateSLSAProvenanceV1,
			`predicate.buildDefinition.externalParameters.source.repository == "https://git.example.com/org/app"`,
			provenanceOf(t, release), provenanceOf(t, otherRepo)},
		{"source ref", attestation.PredicateSLSAProvenanceV1,
			`predicate.buildDefinition.externalParameters.source.ref in ["refs/heads/main", "main"]`,
			provenanceOf(t, release), provenanceOf(t, otherRef)},
		{"build type", attestation.PredicateSLSAProvenanceV1,
			`predicate.buildDefinition.buildType == "https://custody.dev/buildtypes/generic/v1"`,
			provenanceOf(t, release), provenanceOf(t, otherType)},
		{"external parameters", attestation.PredicateSLSAProvenanceV1,
			`predicate.buildDefinition.externalParameters.all(k, k in ["source"])`,
			[]byte(prov), []byte(extraParam)},
		{"no high or worse", attestation.PredicateVulnsV02,
			`vulns.all(v, severityRank(v.severity) < severityRank("high"))`,
			vulnsScan(t, img, finished, medium), vulnsScan(t, img, finished, medium, high)},
		{"unrated findings fail a severity threshold", attestation.PredicateVulnsV02,
			`vulns.all(v, severityRank(v.severity) < severityRank("high"))`,
			vulnsScan(t, img, finished), vulnsScan(t, img, finished, unrated)},
		{"counts and scores", attestation.PredicateVulnsV02,
			`vulns.filter(v, v.severity == "high").size() <= 3 && !vulns.exists(v, v.score >= 9.0)`,
			vulnsScan(t, img, finished, medium, high, high), vulnsScan(t, img, finished, high, critical)},
		{"license deny list", attestation.PredicateCycloneDX,
			`!licenses.exists(l, l in ["GPL-3.0-only", "AGPL-3.0-only"] || l.contains("GPL-3.0"))`,
			sbomLicensed(t, img, "MIT", "Apache-2.0", "MIT OR Apache-2.0"), sbomLicensed(t, img, "MIT", "LGPL-2.1-only OR GPL-3.0-or-later")},
		{"no secrets", attestation.PredicateSecretsV1,
			`size(secrets) == 0 && predicate.status == "complete"`,
			secretsScan(t, img, false), secretsScan(t, img, false, "/app/.env")},
		{"no secrets needs a complete scan", attestation.PredicateSecretsV1,
			`size(secrets) == 0 && predicate.status == "complete"`,
			secretsScan(t, img, false), secretsScan(t, img, true)},
		{"maximum age", attestation.PredicateSLSAProvenanceV1,
			`now - signedAt < duration("168h")`,
			provenanceOf(t, release), nil},
	}
	docText, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(docText), tt.condition) {
				t.Errorf("doc.go does not show the condition %s", tt.condition)
			}
			p := mustParse(t, policyDoc(tt.predicateType, tt.condition, "", ""))
			if d := evalAt(p, img, now, at(tt.pass)); !d.Allowed || d.Requirements[0].Code != policy.CodeSatisfied {
				t.Errorf("passing statement denied: %q", d.Reasons)
			}
			fail := at(tt.pass)
			when := now.Add(8 * 24 * time.Hour) // only the age example fails by time
			if tt.fail != nil {
				fail, when = at(tt.fail), now
			}
			d := evalAt(p, img, when, fail)
			if d.Allowed || d.Requirements[0].Code != policy.CodeConditionFalse || d.Requirements[0].Status != policy.StatusFailed {
				t.Errorf("failing statement: allowed %v, code %s: %q", d.Allowed, d.Requirements[0].Code, d.Reasons)
			}
		})
	}
}

// The derived facts have the values and types the documentation promises.
func TestDerivedFacts(t *testing.T) {
	k := newKeys(t)
	img := digestOf("a8")
	finished := recorded.Add(-time.Minute)
	notAffected := finding("CVE-2025-0009", "", "example.com/z", vuln.RatingCritical, 9.1)
	notAffected.Status = vuln.StatusNotAffected
	medium := finding("CVE-2025-0001", "GHSA-aaaa-aaaa-aaaa", "example.com/a", vuln.RatingMedium, 5.3)
	scan := k.attestAt(t, k.release, vulnsScan(t, img, finished, medium, notAffected), img, recorded)
	sec := k.attestAt(t, k.release, secretsScan(t, img, false, "/etc/key", "/app/.env"), img, recorded)
	bom := k.attestAt(t, k.release, sbomLicensed(t, img, "MIT", "MIT", "Apache-2.0"), img, recorded)
	prov := k.attestAt(t, k.release, provenanceOf(t, build(img, "urn:b", finished)), img, recorded)

	tests := []struct {
		name, predicateType, condition string
		att                            *verify.Result
	}{
		{"a vuln's fields", attestation.PredicateVulnsV02, `size(vulns) == 1 && vulns[0].id == "CVE-2025-0001" && vulns[0].aliases == ["GHSA-aaaa-aaaa-aaaa"] &&
			vulns[0].severity == "medium" && vulns[0].score == 5.3 && vulns[0].package == "pkg:golang/example.com/a@v1.0.0" &&
			vulns[0].name == "example.com/a" && vulns[0].version == "v1.0.0" && vulns[0].fixedVersions == ["v1.0.1"] && vulns[0].status == "affected"`, scan},
		{"the predicate's own VEX removes a finding", attestation.PredicateVulnsV02, `!vulns.exists(v, v.id == "CVE-2025-0009") && size(waivedVulns) == 0`, scan},
		{"secrets' fields", attestation.PredicateSecretsV1, `size(secrets) == 2 && secrets.all(s, s.rule == "aws-access-key-id" && s.layer.startsWith("sha256:") && !s.deleted && s.severity == "critical") &&
			secrets.exists(s, s.path == "/app/.env")`, sec},
		{"licenses are distinct", attestation.PredicateCycloneDX, `licenses == ["MIT", "Apache-2.0"]`, bom},
		{"other types have empty facts", attestation.PredicateSLSAProvenanceV1, `size(vulns) + size(waivedVulns) + size(licenses) + size(secrets) == 0`, prov},
		{"now and signedAt are timestamps", attestation.PredicateSLSAProvenanceV1,
			`now == timestamp("2025-03-01T12:00:00Z") && signedAt == timestamp("2025-03-01T11:00:00Z") && subject == "` + img + `"`, prov},
		{"severityRank orders", attestation.PredicateSLSAProvenanceV1,
			`[severityRank("none"), severityRank("low"), severityRank("medium"), severityRank("high"), severityRank("critical"), severityRank("unknown"), severityRank("HIGH")] == [0, 1, 2, 3, 4, 5, 3]`, prov},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, policyDoc(tt.predicateType, tt.condition, "", ""))
			if d := evalAt(p, img, now, tt.att); !d.Allowed {
				t.Errorf("denied: %q", d.Reasons)
			}
		})
	}

	t.Run("severityRank of a computed unknown string is an error", func(t *testing.T) {
		p := mustParse(t, policyDoc(attestation.PredicateVulnsV02, `vulns.all(v, severityRank(v.name) < 3)`, "", ""))
		d := evalAt(p, img, now, scan)
		if d.Allowed || d.Requirements[0].Code != policy.CodeConditionError || !strings.Contains(d.Reasons[0], `severityRank("example.com/a")`) {
			t.Errorf("got %v %s: %q", d.Allowed, d.Requirements[0].Code, d.Reasons)
		}
	})
}

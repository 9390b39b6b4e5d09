package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/vuln"
)

func TestLint(t *testing.T) {
	doc := `apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: lint}
spec:
  destinations: ["**", "registry.example.com/prod/*"]
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      threshold: 2
      condition: 'subject.startsWith("sha256:") && size(keyIds) > 0'
    - name: sbom
      predicateType: https://cyclonedx.org/bom
    - name: vulns
      predicateType: https://in-toto.io/attestation/vulns/v0.2
      condition: 'size(vulns) == 0'
    - name: secrets
      predicateType: https://custody.dev/attestations/secrets/v1
      required: false
      condition: 'size(secrets) == 0'
  waivers:
` + waiverYAML("CVE-1", "", "alice", now.Add(3*24*time.Hour), "r") +
		waiverYAML("CVE-2", "", "bob", now.Add(-time.Hour), "r") +
		waiverYAML("CVE-3", "", "carol", now.Add(30*24*time.Hour), "r") + `  vex:
` + vexYAML(t, "vex-soon", "sec", now.Add(24*time.Hour), "CVE-4", "pkg:golang/x", vuln.StatusFixed)
	p := mustParse(t, doc, atNow())
	var got []string
	for _, f := range policy.Lint(p) {
		got = append(got, fmt.Sprintf("%s %s", f.Severity, f.Path))
		if f.Message == "" {
			t.Errorf("%s: empty message", f.Path)
		}
	}
	want := []string{
		"info spec.destinations[0]",
		"info spec.authorities",
		"warning spec.requirements[0]", // threshold without authorities
		"warning spec.requirements[0]", // condition never reads the statement
		"info spec.requirements[1]",    // no condition
		"warning spec.requirements[2]", // vulns without maxAge
		"info spec.requirements[3]",    // advisory
		"warning spec.waivers[0]",      // expires in 3 days
		"warning spec.waivers[1]",      // expired
		"warning spec.vex[0]",          // expires tomorrow
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Lint (-want +got):\n%s", diff)
	}
	for _, f := range policy.Lint(p) {
		if f.Path == "spec.waivers[1]" && !strings.Contains(f.Message, "expired at") {
			t.Errorf("expired waiver message %q", f.Message)
		}
		if f.Path == "spec.waivers[0]" && !strings.Contains(f.Message, "within 14 days") {
			t.Errorf("expiring waiver message %q", f.Message)
		}
	}
}

// The policy `custody dev` writes has no warnings.
func TestDefaultDevPolicyLint(t *testing.T) {
	p := mustParse(t, policy.DefaultDevPolicyYAML)
	findings := policy.Lint(p)
	if len(findings) == 0 {
		t.Fatal("expected informational findings (\"**\", no authorities, advisory requirements)")
	}
	for _, f := range findings {
		if f.Severity != policy.LintInfo {
			t.Errorf("default policy: %s %s: %s", f.Severity, f.Path, f.Message)
		}
	}
}

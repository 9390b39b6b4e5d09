package policy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/vuln"
)

// BenchmarkEvaluateVulns evaluates a severity threshold over a scan of 10,000 findings
// with a waiver, as the gate does for each decision it does not find cached.
func BenchmarkEvaluateVulns(b *testing.B) {
	k := newKeys(b)
	img := digestOf("ab")
	var fs []vuln.Finding
	for i := range 10_000 {
		fs = append(fs, finding(fmt.Sprintf("CVE-2025-%05d", i), "", fmt.Sprintf("example.com/p%d", i%500), vuln.RatingMedium, 5.0))
	}
	scan := k.attestAt(b, k.release, vulnsScan(b, img, recorded.Add(-time.Minute), fs...), img, recorded)
	p, err := policy.Parse([]byte(policyDoc(attestation.PredicateVulnsV02, `vulns.all(v, severityRank(v.severity) < severityRank("high"))`, "      maxAge: 168h\n",
		"  waivers:\n"+waiverYAML("CVE-2025-00001", "", "o", now.Add(time.Hour), "r"))), atNow())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := evalAt(p, img, now, scan); !d.Allowed {
			b.Fatal(d.Reasons)
		}
	}
}

package policy_test

import (
	"context"
	"fmt"

	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
)

func ExamplePolicy_Evaluate() {
	p, err := policy.Parse(policy.DefaultDevPolicy())
	if err != nil {
		fmt.Println(err)
		return
	}
	// Attestations come from verify.Verifier.Verify; with none, the policy denies and
	// says what is missing.
	var attestations []*verify.Result
	d := p.Evaluate(context.Background(), policy.Input{
		Digest:       "sha256:0d2ba2c4bbdc76c2e1eb1d6ef7e3a3f0dc8ae10a8f7bfe4c3ff9a5c5b0a3f2d1",
		Destination:  "127.0.0.1:5000/prod/app",
		Attestations: attestations,
	})
	fmt.Println("policy:", d.PolicyName, "allowed:", d.Allowed, "waiting for evidence:", d.Pending())
	for _, r := range d.Reasons {
		fmt.Println(r)
	}
	// Output:
	// policy: default allowed: false waiting for evidence: true
	// provenance: no verified attestation of type https://slsa.dev/provenance/v1 about sha256:0d2ba2c4bbdc76c2e1eb1d6ef7e3a3f0dc8ae10a8f7bfe4c3ff9a5c5b0a3f2d1
	// sbom: no verified attestation of type https://cyclonedx.org/bom about sha256:0d2ba2c4bbdc76c2e1eb1d6ef7e3a3f0dc8ae10a8f7bfe4c3ff9a5c5b0a3f2d1
	// vulns (advisory): no verified attestation of type https://in-toto.io/attestation/vulns/v0.2 about sha256:0d2ba2c4bbdc76c2e1eb1d6ef7e3a3f0dc8ae10a8f7bfe4c3ff9a5c5b0a3f2d1
	// secrets (advisory): no verified attestation of type https://custody.dev/attestations/secrets/v1 about sha256:0d2ba2c4bbdc76c2e1eb1d6ef7e3a3f0dc8ae10a8f7bfe4c3ff9a5c5b0a3f2d1
}

func ExampleLint() {
	p, err := policy.Parse([]byte(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: prod}
spec:
  destinations: ["registry.example.com/prod/*"]
  authorities:
    - {name: release, keyIds: ["1111111111111111111111111111111111111111111111111111111111111111"]}
  requirements:
    - name: vulns
      predicateType: https://in-toto.io/attestation/vulns/v0.2
      condition: 'vulns.all(v, severityRank(v.severity) < severityRank("high"))'
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range policy.Lint(p) {
		fmt.Printf("%s %s: %.60s…\n", f.Severity, f.Path, f.Message)
	}
	// Output:
	// warning spec.requirements[0]: vulns checks a vulnerability scan without maxAge: a scan fro…
}

package bundle_test

import (
	"context"
	"fmt"
	"os"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/verify"
)

// Verify a bundle offline with the artifact signing key and the ledger's log key, both
// obtained out of band (not from the bundle).
func Example() {
	data, _ := os.ReadFile("testdata/bundle.json")
	pub, _ := os.ReadFile("testdata/signing.pub")
	logKey, _ := os.ReadFile("testdata/log.pub")

	b, err := bundle.Parse(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	key, _ := verify.ParseTrustedKeyPEM("custody", pub)
	res, err := bundle.Verify(context.Background(), b, []verify.TrustedKey{key}, bundle.WithLogKey(string(logKey)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("log %s, %d entries\n", res.LogOrigin, res.LogSize)
	for _, a := range res.Attestations {
		fmt.Printf("attestation %s at log index %d\n", a.PredicateType, a.LogIndex)
	}
	for _, d := range res.Decisions {
		fmt.Printf("decision %s: %s\n", d.RequestID, d.Verdict)
	}
	// Output:
	// log custody.test/ledger, 6 entries
	// attestation https://slsa.dev/provenance/v1 at log index 1
	// attestation https://cyclonedx.org/bom at log index 3
	// decision req-1: allowed
}

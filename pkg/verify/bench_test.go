package verify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/verify"
)

// bigStatement is a statement with an SBOM-shaped predicate of about size bytes.
func bigStatement(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"bomFormat":"CycloneDX","components":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"library","name":"pkg-%d","version":"1.%d.0","purl":"pkg:deb/debian/pkg-%d@1.%d.0?arch=amd64","licenses":[{"license":{"id":"MIT"}}],"properties":[{"name":"syft:location","value":"/var/lib/dpkg/status"}]}`, i, i, i, i)
	}
	b.WriteString(`]}`)
	return statementJSON(b.String())
}

// BenchmarkParseStatement measures the strict statement parse (token walk, then
// protojson) on an SBOM-sized statement.
func BenchmarkParseStatement(b *testing.B) {
	st := bigStatement(8 << 20)
	b.SetBytes(int64(len(st)))
	for b.Loop() {
		if _, err := verify.ParseStatement(st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySBOM measures Verify of a signed 20 KB SBOM-shaped statement: the
// gate's and the ledger's cost per envelope.
func BenchmarkVerifySBOM(b *testing.B) {
	s, tk := newSigner(b)
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		b.Fatal(err)
	}
	env := sign(b, s, verify.PayloadTypeInToto, bigStatement(20<<10))
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		if _, err := v.Verify(context.Background(), env, digest); err != nil {
			b.Fatal(err)
		}
	}
}

package verify_test

import (
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

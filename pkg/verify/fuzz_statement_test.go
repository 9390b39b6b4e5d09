package verify_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/verify"
)

// FuzzParseStatement feeds arbitrary payloads to the in-toto statement parser, which
// runs on every payload whose signature verified. Whatever it accepts is a valid
// statement that survives a round trip unchanged. Seed corpus:
// testdata/fuzz/FuzzParseStatement.
func FuzzParseStatement(f *testing.F) {
	f.Add(stmt(hexDigest))
	f.Fuzz(func(t *testing.T, payload []byte) {
		st, err := verify.ParseStatement(payload)
		if err != nil {
			if st != nil {
				t.Fatalf("error %v with a statement", err)
			}
			return
		}
		if err := st.Validate(); err != nil {
			t.Fatalf("accepted an invalid statement: %v", err)
		}
		again, err := protojson.Marshal(st)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := verify.ParseStatement(again)
		if err != nil {
			t.Fatalf("re-encoded statement does not parse: %v\n%s", err, again)
		}
		if !proto.Equal(st, back) {
			t.Fatalf("round trip changed the statement:\n%v\n%v", st, back)
		}
	})
}

package verify_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/verify"
)

// FuzzParseStatement feeds arbitrary payloads to the in-toto statement parser, which
// runs on every payload whose signature verified. Whatever it accepts is a valid
// statement that survives a round trip unchanged. Seed corpus:
// testdata/fuzz/FuzzParseStatement (duplicate keys, protobuf field names, invalid UTF-8,
// lone surrogates, nesting at and past MaxJSONDepth).
func FuzzParseStatement(f *testing.F) {
	f.Add(stmt(hexDigest))
	f.Add(statementJSON(`{"a":1,"a":2}`))
	f.Add([]byte(strings.Replace(string(stmt(hexDigest)), `"predicateType"`, `"predicate_type"`, 1)))
	f.Fuzz(func(t *testing.T, payload []byte) {
		st, err := verify.ParseStatement(payload)
		if err != nil {
			if st != nil {
				t.Fatalf("error %v with a statement", err)
			}
			return
		}
		if !utf8.Valid(payload) {
			t.Fatalf("accepted invalid UTF-8: %q", payload)
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

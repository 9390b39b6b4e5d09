package verify

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// FuzzStatementHeader checks Verify's statement parser against ParseStatement, which
// decodes the whole statement with protojson: whatever ParseStatement accepts, the
// header parser accepts with the same header and the same predicate, and whatever the
// header parser accepts that ParseStatement refuses, ParseStatement refuses only for
// the predicate's content (protobuf's Struct cannot hold every JSON number). Seed
// corpus: testdata/fuzz/FuzzStatementHeader, the same cases as FuzzParseStatement.
func FuzzStatementHeader(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r","digest":{"sha256":"` +
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + `"}}],"predicateType":"p","predicate":{"n":1e400}}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p","predicate":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		full, fullErr := ParseStatement(payload)
		head, pred, err := parseStatementHeader(payload)
		if err != nil {
			if head != nil || pred != nil {
				t.Fatalf("error %v with a result", err)
			}
			if fullErr == nil {
				t.Fatalf("ParseStatement accepts what the header parser refuses (%v): %q", err, payload)
			}
			return
		}
		if head.GetPredicate() != nil || !bytes.HasPrefix(pred, []byte("{")) {
			t.Fatalf("header parse returned predicate %v and raw %q", head.GetPredicate(), pred)
		}
		if fullErr != nil {
			// Only the predicate's content may be what ParseStatement refuses.
			if _, perr := protojson.Marshal(head); perr != nil {
				t.Fatalf("accepted a header protojson cannot encode: %v", perr)
			}
			if !json.Valid(pred) {
				t.Fatalf("accepted a predicate that is not JSON: %q", pred)
			}
			return
		}
		fullPred := full.GetPredicate()
		full.Predicate = nil
		if !proto.Equal(full, head) {
			t.Fatalf("headers differ:\n%v\n%v", full, head)
		}
		want, err := protojson.Marshal(fullPred)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if json.Unmarshal(want, &a) != nil || json.Unmarshal(pred, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("predicates differ:\n%s\n%s", want, pred)
		}
	})
}

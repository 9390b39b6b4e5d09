package verify_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/custody-dev/custody/pkg/verify"
)

// nest wraps inner in n arrays.
func nest(n int, inner string) string {
	return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
}

// TestVerifyStrictEnvelope: every envelope here carries a valid signature by the trusted
// key over a statement about the digest, and encoding/json alone would accept it (the
// last of two duplicate keys wins, "Payload" and "ſig" match their fields, invalid UTF-8
// becomes U+FFFD, unknown deep fields are skipped, extra copies of a signature count
// once). Each must be refused as malformed, naming the problem.
func TestVerifyStrictEnvelope(t *testing.T) {
	s, tk := newSigner(t)
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, s, verify.PayloadTypeInToto, stmt(hexDigest))
	var e dsse.Envelope
	if err := json.Unmarshal(good, &e); err != nil {
		t.Fatal(err)
	}
	pt, _ := json.Marshal(e.PayloadType)
	payload := `"` + e.Payload + `"`
	sig := `"` + e.Signatures[0].Sig + `"`
	other := `"` + base64.StdEncoding.EncodeToString(stmt(strings.Repeat("ab", 32))) + `"`
	envelope := func(fields string) []byte { return []byte("{" + fields + "}") }
	sigs := func(n int) string {
		return `"signatures":[` + strings.TrimSuffix(strings.Repeat(`{"keyid":"","sig":`+sig+`},`, n), ",") + `]`
	}
	std := `"payloadType":` + string(pt) + `,"payload":` + payload + `,`

	// Sanity: the hand-built forms verify when nothing is wrong, so each failure below is
	// the strictness and not the construction.
	for name, env := range map[string][]byte{
		"hand-built":               envelope(std + sigs(1)),
		"MaxSignatures signatures": envelope(std + sigs(verify.MaxSignatures)),
		"deep unknown field at the limit": envelope(std + sigs(1) +
			`,"x":` + nest(verify.MaxJSONDepth-1, "1")),
		"escaped keys":        envelope(`"payload\u0054ype":` + string(pt) + `,"payload":` + payload + `,` + sigs(1)),
		"unicode in keyid":    envelope(std + `"signatures":[{"keyid":"clé \ud83d\ude00","sig":` + sig + `}]`),
		"unknown fields kept": envelope(std + sigs(1) + `,"Extra":{"a":1},"extra":2`),
	} {
		if _, err := v.Verify(context.Background(), env, digest); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, env)
		}
	}

	for _, tc := range []struct {
		name string
		env  []byte
		want string
	}{
		{"duplicate payload, signed one last", envelope(`"payloadType":` + string(pt) + `,"payload":` + other + `,"payload":` + payload + `,` + sigs(1)), `key "payload" twice`},
		{"duplicate payloadType", envelope(`"payloadType":"text/plain",` + std + sigs(1)), `key "payloadType" twice`},
		{"duplicate signatures", envelope(std + `"signatures":[],` + sigs(1)), `key "signatures" twice`},
		{"duplicate sig inside a signature", envelope(std + `"signatures":[{"sig":"AAAA","sig":` + sig + `}]`), `key "sig" twice (at signatures.[])`},
		{"duplicate keyid", envelope(std + `"signatures":[{"keyid":"a","keyid":"b","sig":` + sig + `}]`), `key "keyid" twice`},
		{"duplicate spelled with an escape", envelope(std + `"payl\u006fad":` + payload + `,` + sigs(1)), `key "payload" twice`},
		{"duplicate in an unknown field", envelope(std + sigs(1) + `,"x":{"a":1,"a":2}`), `key "a" twice (at x)`},
		{"case variant of payload", envelope(`"payloadType":` + string(pt) + `,"payload":` + other + `,"Payload":` + payload + `,` + sigs(1)), `"Payload" at the top level differs from the DSSE field "payload" only by case`},
		{"case variant alone", envelope(`"PAYLOADTYPE":` + string(pt) + `,"payload":` + payload + `,` + sigs(1)), `only by case`},
		{"long s spelling of sig", envelope(std + `"signatures":[{"ſig":` + sig + `}]`), `"ſig" at signatures.[] differs from the DSSE field "sig"`},
		{"kelvin sign spelling of keyid", envelope(std + `"signatures":[{"\u212aeyid":"","sig":` + sig + `}]`), `differs from the DSSE field "keyid"`},
		{"invalid UTF-8 in keyid", envelope(std + `"signatures":[{"keyid":"` + "\xff" + `","sig":` + sig + `}]`), "not valid UTF-8"},
		{"invalid UTF-8 in a key", envelope(std + sigs(1) + `,"` + "\xc3\x28" + `":1`), "not valid UTF-8"},
		{"overlong UTF-8", envelope(std + sigs(1) + `,"x":"` + "\xc0\xaf" + `"`), "not valid UTF-8"},
		{"escaped lone surrogate", envelope(std + `"signatures":[{"keyid":"\ud800","sig":` + sig + `}]`), "lone UTF-16 surrogate"},
		{"escaped lone low surrogate", envelope(std + sigs(1) + `,"x":"\udc00\ud800"`), "lone UTF-16 surrogate"},
		{"nesting one past the limit", envelope(std + sigs(1) + `,"x":` + nest(verify.MaxJSONDepth, "1")), fmt.Sprintf("deeper than %d levels", verify.MaxJSONDepth)},
		{"deep nesting", envelope(std + sigs(1) + `,"x":` + nest(100000, "")), "deeper than"},
		{"too many signatures", envelope(std + sigs(verify.MaxSignatures+1)), fmt.Sprintf("%d signatures, more than the %d", verify.MaxSignatures+1, verify.MaxSignatures)},
		{"many garbage signatures", envelope(std + `"signatures":[` + strings.Repeat(`{"sig":"!"},`, 1000) + `{"sig":` + sig + `}]`), "1001 signatures"},
		{"second value", append(envelope(std+sigs(1)), `{}`...), "data after its value"},
		{"not an object", []byte(`[` + string(good) + `]`), "not a DSSE envelope"},
		{"truncated", good[:len(good)-1], "ends inside an object"},
		{"broken syntax", []byte(`{"payload":}`), "not JSON"},
		{"empty", []byte("  "), "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(context.Background(), tc.env, digest)
			if !errors.Is(err, verify.ErrMalformed) {
				t.Fatalf("Verify = %+v, %v; want ErrMalformed", res, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// A payloadType that differs from the in-toto one only by case or whitespace is another
// type: DSSE signs the exact bytes, and two verifiers must not disagree on it.
func TestVerifyPayloadTypeExact(t *testing.T) {
	s, tk := newSigner(t)
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range []string{
		"Application/vnd.in-toto+json", "APPLICATION/VND.IN-TOTO+JSON", "application/vnd.in-toto+JSON",
		" application/vnd.in-toto+json", "application/vnd.in-toto+json ", "application/vnd.in-toto+json\n",
		"\tapplication/vnd.in-toto+json", "application/vnd.in-toto+json\x00", "application/vnd.in-toto+json; charset=utf-8",
		"application/vnd.in-toto+json\u200b", "application/vnd.in\u2010toto+json",
	} {
		t.Run(fmt.Sprintf("%q", pt), func(t *testing.T) {
			env := sign(t, s, pt, stmt(hexDigest))
			if _, err := v.Verify(context.Background(), env, digest); !errors.Is(err, verify.ErrPayloadType) {
				t.Fatalf("payloadType %q: %v, want ErrPayloadType", pt, err)
			}
		})
	}
}

// statementJSON is stmt with the predicate replaced.
func statementJSON(predicate string) []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r/app","digest":{"sha256":"` + hexDigest +
		`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":` + predicate + `}`)
}

// TestStatementStrict: the statement layer, both through ParseStatement and signed in an
// envelope (the signature is valid, so only the statement's strictness refuses it).
func TestStatementStrict(t *testing.T) {
	s, tk := newSigner(t)
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string][]byte{
		"plain":                        statementJSON(`{"a":1}`),
		"nesting at the limit":         statementJSON(`{"a":` + nest(verify.MaxJSONDepth-2, "1") + `}`),
		"same key in sibling objects":  statementJSON(`{"a":{"k":1},"b":{"k":1},"k":[{"k":1},{"k":2}]}`),
		"surrogate pair":               statementJSON(`{"a":"\ud83d\ude00"}`),
		"escaped backslash before u":   statementJSON(`{"a":"\\ud800"}`),
		"literal U+FFFD":               statementJSON(`{"a":"` + "\uFFFD" + `"}`),
		"v0.1 statement":               []byte(strings.Replace(string(stmt(hexDigest)), "Statement/v1", "Statement/v0.1", 1)),
		"JSON names for subject field": []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r/app","mediaType":"x","downloadLocation":"y","digest":{"sha256":"` + hexDigest + `"}}],"predicateType":"p","predicate":{"type":1,"predicate_type":2,"media_type":3}}`),
	} {
		if _, err := verify.ParseStatement(st); err != nil {
			t.Errorf("%s: ParseStatement: %v\n%s", name, err, st)
			continue
		}
		if _, err := v.Verify(context.Background(), sign(t, s, verify.PayloadTypeInToto, st), digest); err != nil {
			t.Errorf("%s: Verify: %v", name, err)
		}
	}

	for _, tc := range []struct {
		name string
		st   []byte
		want string
	}{
		{"duplicate in the predicate", statementJSON(`{"a":1,"a":2}`), `key "a" twice (at predicate)`},
		{"duplicate deep in the predicate", statementJSON(`{"a":[{"b":{"c":1,"c":1}}]}`), `key "c" twice (at predicate.a.[].b)`},
		{"duplicate predicateType", []byte(strings.Replace(string(statementJSON(`{}`)), `"predicate":`, `"predicateType":"x","predicate":`, 1)), `key "predicateType" twice`},
		{"duplicate subject digest", []byte(strings.Replace(string(stmt(hexDigest)), `"digest":{`, `"digest":{"sha256":"`+strings.Repeat("ab", 32)+`",`, 1)), `key "sha256" twice (at subject.[].digest)`},
		{"protobuf name predicate_type", []byte(strings.Replace(string(stmt(hexDigest)), `"predicateType"`, `"predicate_type"`, 1)), `"predicate_type" at the top level is protobuf's name for "predicateType"`},
		{"protobuf name type", []byte(strings.Replace(string(stmt(hexDigest)), `"_type"`, `"type"`, 1)), `protobuf's name for "_type"`},
		{"protobuf name in a subject", []byte(strings.Replace(string(stmt(hexDigest)), `"name":"r/app"`, `"name":"r/app","media_type":"x"`, 1)), `"media_type" at subject.[] is protobuf's name`},
		{"invalid UTF-8", statementJSON(`{"a":"` + "\xed\xa0\x80" + `"}`), "not valid UTF-8"},
		{"lone surrogate", statementJSON(`{"a":"\udfff"}`), "lone UTF-16 surrogate"},
		{"high surrogate then a non-surrogate", statementJSON(`{"a":"\ud800\u0041"}`), "lone UTF-16 surrogate"},
		{"nesting one past the limit", statementJSON(`{"a":` + nest(verify.MaxJSONDepth-1, "1") + `}`), "deeper than 64 levels (at predicate"},
		{"trailing value", append(stmt(hexDigest), ` {}`...), "data after its value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := verify.ParseStatement(tc.st)
			if !errors.Is(err, verify.ErrMalformed) || st != nil {
				t.Fatalf("ParseStatement = %v, %v; want ErrMalformed", st, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseStatement error %q does not say %q", err, tc.want)
			}
			_, err = v.Verify(context.Background(), sign(t, s, verify.PayloadTypeInToto, tc.st), digest)
			if !errors.Is(err, verify.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v; want ErrMalformed saying %q", err, tc.want)
			}
		})
	}
}

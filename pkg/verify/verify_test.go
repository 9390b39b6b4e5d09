package verify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

const hexDigest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
const digest = "sha256:" + hexDigest

func newSigner(t testing.TB) (*signing.Signer, verify.TrustedKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := verify.ParseTrustedKeyPEM("k", s.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	return s, tk
}

func stmt(d string) []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r/app","digest":{"sha256":"` + d +
		`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"a":1}}`)
}

func sign(t testing.TB, s *signing.Signer, payloadType string, payload []byte) []byte {
	t.Helper()
	env, err := s.Sign(context.Background(), payloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func edit(t *testing.T, env []byte, f func(*dsse.Envelope)) []byte {
	t.Helper()
	var e dsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	f(&e)
	out, _ := json.Marshal(e)
	return out
}

func TestVerify(t *testing.T) {
	s, tk := newSigner(t)
	other, otherKey := newSigner(t)
	good := sign(t, s, verify.PayloadTypeInToto, stmt(hexDigest))
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), good, digest)
	if err != nil {
		t.Fatalf("good envelope: %v", err)
	}
	if res.PredicateType != "https://slsa.dev/provenance/v1" || len(res.KeyIDs) != 1 || res.KeyIDs[0] != s.KeyID() ||
		!strings.HasPrefix(res.EnvelopeDigest, "sha256:") {
		t.Fatalf("result = %+v", res)
	}

	otherDigest := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		env  []byte
		dig  string
		want error
	}{
		{"untrusted key", sign(t, other, verify.PayloadTypeInToto, stmt(hexDigest)), digest, verify.ErrUntrusted},
		{"payload type", sign(t, s, "application/json", stmt(hexDigest)), digest, verify.ErrPayloadType},
		{"other subject", sign(t, s, verify.PayloadTypeInToto, stmt(otherDigest)), digest, verify.ErrSubjectMismatch},
		{"payload swapped", edit(t, good, func(e *dsse.Envelope) {
			e.Payload = base64.StdEncoding.EncodeToString(stmt(otherDigest))
		}), "sha256:" + otherDigest, verify.ErrUntrusted},
		{"payloadType swapped keeps signature", edit(t, good, func(e *dsse.Envelope) { e.PayloadType = "text/plain" }), digest, verify.ErrPayloadType},
		{"no signatures", edit(t, good, func(e *dsse.Envelope) { e.Signatures = nil }), digest, verify.ErrUntrusted},
		{"only garbage signature", edit(t, good, func(e *dsse.Envelope) { e.Signatures[0].Sig = "!!!" }), digest, verify.ErrUntrusted},
		{"not json", []byte("{"), digest, verify.ErrMalformed},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), digest, verify.ErrMalformed},
		{"not a statement", sign(t, s, verify.PayloadTypeInToto, []byte(`{"hello":1}`)), digest, verify.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tc.env, tc.dig); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("garbage signature beside a good one still verifies, counted once", func(t *testing.T) {
		env := edit(t, good, func(e *dsse.Envelope) {
			e.Signatures = append([]dsse.Signature{{Sig: "%%%"}}, e.Signatures[0], e.Signatures[0])
		})
		res, err := v.Verify(context.Background(), env, digest)
		if err != nil || len(res.KeyIDs) != 1 {
			t.Fatalf("Verify = %+v, %v; want one key", res, err)
		}
	})
	t.Run("two trusted keys each counted", func(t *testing.T) {
		v2, err := verify.NewVerifier([]verify.TrustedKey{tk, otherKey})
		if err != nil {
			t.Fatal(err)
		}
		second := sign(t, other, verify.PayloadTypeInToto, stmt(hexDigest))
		env := edit(t, good, func(e *dsse.Envelope) {
			var o dsse.Envelope
			_ = json.Unmarshal(second, &o)
			e.Signatures = append(e.Signatures, o.Signatures...)
		})
		res, err := v2.Verify(context.Background(), env, digest)
		if err != nil || len(res.KeyIDs) != 2 {
			t.Fatalf("Verify = %+v, %v; want two keys", res, err)
		}
	})
	t.Run("key outside its window", func(t *testing.T) {
		expired := tk
		expired.NotAfter = time.Now().Add(-time.Hour)
		v3, err := verify.NewVerifier([]verify.TrustedKey{expired})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v3.Verify(context.Background(), good, digest); !errors.Is(err, verify.ErrUntrusted) {
			t.Fatalf("expired key: %v", err)
		}
	})
	t.Run("bad digest argument", func(t *testing.T) {
		if _, err := v.Verify(context.Background(), good, "sha256:XYZ"); err == nil {
			t.Fatal("accepted a malformed digest")
		}
	})
	t.Run("oversized", func(t *testing.T) {
		small, _ := verify.NewVerifier([]verify.TrustedKey{tk}, verify.WithMaxEnvelopeSize(16))
		if _, err := small.Verify(context.Background(), good, digest); !errors.Is(err, verify.ErrMalformed) {
			t.Fatalf("oversized: %v", err)
		}
	})
}

func TestNewVerifierNeedsKeys(t *testing.T) {
	if _, err := verify.NewVerifier(nil); !errors.Is(err, verify.ErrNoKeys) {
		t.Fatalf("NewVerifier(nil) = %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := signing.NewSigner(k)
	tk, _ := verify.ParseTrustedKeyPEM("k", s.PublicKeyPEM())
	v, _ := verify.NewVerifier([]verify.TrustedKey{tk})
	good, _ := s.Sign(context.Background(), verify.PayloadTypeInToto, stmt(hexDigest))
	f.Add(good)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AAAA"}]}`))
	f.Add([]byte(`{"payloadType":1}`))
	// The signed envelope with what strictness refuses: a duplicate or case-variant key
	// (the signed payload last, which encoding/json alone would take), a signature
	// beyond MaxSignatures, deep nesting. Testdata seeds add unsigned variants.
	var e dsse.Envelope
	_ = json.Unmarshal(good, &e)
	std := `{"payloadType":"` + e.PayloadType + `","payload":"e30=",`
	sig := `{"keyid":"","sig":"` + e.Signatures[0].Sig + `"}`
	f.Add([]byte(std + `"payload":"` + e.Payload + `","signatures":[` + sig + `]}`))
	f.Add([]byte(std + `"Payload":"` + e.Payload + `","signatures":[` + sig + `]}`))
	f.Add([]byte(std[:len(std)-len(`"payload":"e30=",`)] + `"payload":"` + e.Payload + `","signatures":[` +
		strings.Repeat(sig+",", verify.MaxSignatures) + sig + `]}`))
	f.Add([]byte(std[:len(std)-len(`"payload":"e30=",`)] + `"payload":"` + e.Payload + `","signatures":[` + sig +
		`],"x":` + strings.Repeat("[", verify.MaxJSONDepth) + strings.Repeat("]", verify.MaxJSONDepth) + `}`))
	f.Fuzz(func(t *testing.T, env []byte) {
		res, err := v.Verify(context.Background(), env, digest)
		if err != nil {
			if res != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		if len(res.KeyIDs) == 0 || res.Statement == nil {
			t.Fatalf("accepted without a key or statement: %+v", res)
		}
		if !utf8.Valid(env) || !utf8.Valid(res.Payload) {
			t.Fatalf("accepted invalid UTF-8: %q", env)
		}
		var got dsse.Envelope
		if err := json.Unmarshal(env, &got); err != nil || len(got.Signatures) > verify.MaxSignatures {
			t.Fatalf("accepted an envelope of %d signatures (%v)", len(got.Signatures), err)
		}
		if _, err := verify.ParseStatement(res.Payload); err != nil {
			t.Fatalf("accepted a payload ParseStatement refuses: %v", err)
		}
		// The envelope re-encoded without duplicates or odd spellings says the same.
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		res2, err := v.Verify(context.Background(), again, digest)
		if err != nil || !bytes.Equal(res2.Payload, res.Payload) || !slices.Equal(res2.KeyIDs, res.KeyIDs) {
			t.Fatalf("re-encoded envelope verifies differently: %+v, %v\n%s", res2, err, again)
		}
	})
}

package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// FuzzParseBundle feeds parseBundle untrusted bundle JSON (the seeds in
// testdata/fuzz/FuzzParseBundle include Custody's and cosign's layouts). It must never
// panic, refuse with ErrInvalidBundle, and whatever it accepts must be a DSSE envelope
// that encodes back into a bundle carrying the same envelope.
func FuzzParseBundle(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"k"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"c2ln"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, hint, err := parseBundle(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidBundle) {
				t.Fatalf("parseBundle error %v is not ErrInvalidBundle", err)
			}
			return
		}
		var e dsse.Envelope
		if err := json.Unmarshal(env, &e); err != nil || e.PayloadType == "" || len(e.Signatures) == 0 {
			t.Fatalf("accepted bundle yields envelope %s (%v)", env, err)
		}
		if hint == "" || len(hint) > maxKeyHintLen {
			return // not a bundle AttachBundle would write; nothing to round-trip
		}
		again, err := encodeBundle(BundleAttachment{Attachment: Attachment{Envelope: env, PredicateType: "p"}, KeyHint: hint})
		if err != nil {
			if errors.Is(err, ErrInvalidAttachment) {
				return // hints AttachBundle refuses (spaces, control characters)
			}
			t.Fatalf("encodeBundle of an accepted envelope: %v", err)
		}
		env2, hint2, err := parseBundle(again)
		if err != nil || !bytes.Equal(env, env2) || hint != hint2 {
			t.Fatalf("round trip changed the bundle: %s / %q, %v", env2, hint2, err)
		}
	})
}

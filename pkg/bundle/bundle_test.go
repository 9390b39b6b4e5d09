package bundle_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

var update = flag.Bool("update", false, "rewrite the valid bundle in the fuzz seed corpus")

func sha256Sum(data []byte) [32]byte { return sha256.Sum256(data) }

// clone returns a deep copy of b, through its own encoding.
func clone(t *testing.T, b *bundle.Bundle) *bundle.Bundle {
	t.Helper()
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := bundle.Parse(data)
	if err != nil {
		t.Fatalf("Parse of a marshalled bundle: %v", err)
	}
	return c
}

func otherKey(t *testing.T) verify.TrustedKey {
	t.Helper()
	_, pub, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := verify.ParseTrustedKeyPEM("other", pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerifyValidBundle(t *testing.T) {
	f := newFixture(t)
	b := clone(t, f.bundle)
	res, err := bundle.Verify(context.Background(), b, []verify.TrustedKey{f.key}, bundle.WithLogKey(f.logKey))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.LogKeyPinned || res.LogSize != 6 || len(res.Attestations) != 2 || len(res.Decisions) != 1 || len(res.Promotions) != 1 {
		t.Errorf("Result = %+v, want pinned, size 6, 2 attestations, 1 decision, 1 promotion", res)
	}
	if got := res.Attestations[0]; got.PredicateType != "https://slsa.dev/provenance/v1" || got.LogIndex != 1 ||
		got.EnvelopeDigest != digestOf(f.envelope[0]) || len(got.KeyIDs) != 1 || got.KeyIDs[0] != f.key.ID {
		t.Errorf("first attestation = %+v", got)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("Result does not serialise: %v", err)
	}

	// Unpinned, it verifies too, and says so.
	res, err = bundle.Verify(context.Background(), b, []verify.TrustedKey{f.key}, bundle.WithBundleLogKeyUnsafe())
	if err != nil || res.LogKeyPinned {
		t.Errorf("Verify with the bundle's log key = %+v, %v; want success, not pinned", res, err)
	}
	// Without any log key it fails closed.
	if _, err := bundle.Verify(context.Background(), b, []verify.TrustedKey{f.key}); !errors.Is(err, bundle.ErrNoLogKey) {
		t.Errorf("Verify without a log key = %v, want ErrNoLogKey", err)
	}
	if _, err := bundle.Verify(context.Background(), b, nil, bundle.WithLogKey(f.logKey)); !errors.Is(err, verify.ErrNoKeys) {
		t.Errorf("Verify without signing keys = %v, want ErrNoKeys", err)
	}
}

// editEnvelope decodes envelope JSON, lets edit change it, and encodes it again.
func editEnvelope(t *testing.T, env []byte, edit func(payload []byte, sig []byte)) []byte {
	t.Helper()
	var e struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	edit(e.Payload, e.Signatures[0].Sig)
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flipB64(s string, i int) string {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	raw[i%len(raw)] ^= 1
	return base64.StdEncoding.EncodeToString(raw)
}

// replaceSig changes the signature line of a signed note.
func replaceSig(signed string) string {
	i := strings.LastIndexByte(strings.TrimSuffix(signed, "\n"), ' ')
	return signed[:i+1] + flipB64(strings.TrimSuffix(signed[i+1:], "\n"), 10) + "\n"
}

func TestVerifyDetectsTampering(t *testing.T) {
	f := newFixture(t)
	other := otherKey(t)
	otherLogKey := mustOtherLogKey(t)
	for _, tc := range []struct {
		name   string
		edit   func(b *bundle.Bundle)
		keys   []verify.TrustedKey
		logKey string
		want   string
		is     error
	}{
		{name: "envelope 1 payload", edit: func(b *bundle.Bundle) {
			b.Attestations[0].Envelope = editEnvelope(t, b.Attestations[0].Envelope, func(p, _ []byte) { p[40] ^= 1 })
		}, want: "envelope 1 (https://slsa.dev/provenance/v1): signature does not verify with key " + f.key.ID, is: bundle.ErrSignature},
		{name: "envelope 2 payload", edit: func(b *bundle.Bundle) {
			b.Attestations[1].Envelope = editEnvelope(t, b.Attestations[1].Envelope, func(p, _ []byte) { p[len(p)-3] ^= 1 })
		}, want: "envelope 2 (https://cyclonedx.org/bom): signature does not verify", is: bundle.ErrSignature},
		{name: "envelope 1 signature", edit: func(b *bundle.Bundle) {
			b.Attestations[0].Envelope = editEnvelope(t, b.Attestations[0].Envelope, func(_, s []byte) { s[20] ^= 1 })
		}, want: "envelope 1 (https://slsa.dev/provenance/v1): signature does not verify", is: bundle.ErrSignature},
		{name: "envelope 2 signature", edit: func(b *bundle.Bundle) {
			b.Attestations[1].Envelope = editEnvelope(t, b.Attestations[1].Envelope, func(_, s []byte) { s[len(s)-1] ^= 1 })
		}, want: "envelope 2 (https://cyclonedx.org/bom): signature does not verify", is: bundle.ErrSignature},
		{name: "envelope re-encoded", edit: func(b *bundle.Bundle) {
			b.Attestations[0].Envelope = editEnvelope(t, b.Attestations[0].Envelope, func(_, _ []byte) {})
			b.Attestations[0].Envelope = append(b.Attestations[0].Envelope, ' ')
		}, want: "envelope 1 (https://slsa.dev/provenance/v1): envelope bytes", is: bundle.ErrMismatch},
		{name: "checkpoint body", edit: func(b *bundle.Bundle) {
			b.Checkpoint = strings.Replace(b.Checkpoint, "\n6\n", "\n7\n", 1)
		}, want: "checkpoint: signature invalid", is: bundle.ErrCheckpoint},
		{name: "checkpoint signature", edit: func(b *bundle.Bundle) { b.Checkpoint = replaceSig(b.Checkpoint) },
			want: "checkpoint: signature invalid", is: bundle.ErrCheckpoint},
		{name: "proof hash", edit: func(b *bundle.Bundle) { b.LogEntries[1].Proof[0][5] ^= 1 },
			want: "log entry 3: inclusion proof does not match checkpoint root", is: bundle.ErrInclusion},
		{name: "leaf", edit: func(b *bundle.Bundle) { b.LogEntries[0].Entry[12] ^= 1 },
			want: "log entry 1: inclusion proof does not match checkpoint root", is: bundle.ErrInclusion},
		{name: "log entry index", edit: func(b *bundle.Bundle) { b.LogEntries[2].Index = 2 },
			want: "log entry 2: inclusion proof does not match checkpoint root", is: bundle.ErrInclusion},
		{name: "attestation log index", edit: func(b *bundle.Bundle) { b.Attestations[0].LogIndex = 4 },
			want: "envelope 1 (https://slsa.dev/provenance/v1): log entry 4 is not an attestation", is: bundle.ErrMismatch},
		{name: "decision verdict", edit: func(b *bundle.Bundle) { b.Decisions[0].Verdict = "denied" },
			want: "decision 1 (req-1): verdict differ from log entry 4", is: bundle.ErrMismatch},
		{name: "decision reasons", edit: func(b *bundle.Bundle) { b.Decisions[0].Reasons[0] = "waived" },
			want: "records: the decisions or promotions are not those the log key signed", is: bundle.ErrMismatch},
		{name: "promotion destination", edit: func(b *bundle.Bundle) { b.Promotions[0].Destination = "registry.test/other" },
			want: "records: the decisions or promotions are not those", is: bundle.ErrMismatch},
		{name: "records signature", edit: func(b *bundle.Bundle) { b.Records = replaceSig(b.Records) },
			want: "records: signature invalid", is: bundle.ErrCheckpoint},
		{name: "swap two envelopes", edit: func(b *bundle.Bundle) {
			b.Attestations[0].Envelope, b.Attestations[1].Envelope = b.Attestations[1].Envelope, b.Attestations[0].Envelope
		}, want: `envelope 1 (https://slsa.dev/provenance/v1): the signed statement's predicateType is "https://cyclonedx.org/bom"`, is: bundle.ErrMismatch},
		{name: "drop a proof", edit: func(b *bundle.Bundle) { b.LogEntries[0].Proof = nil },
			want: "log entry 1: inclusion proof does not match checkpoint root", is: bundle.ErrInclusion},
		{name: "drop a log entry", edit: func(b *bundle.Bundle) { b.LogEntries = b.LogEntries[1:] },
			want: "envelope 1 (https://slsa.dev/provenance/v1): log entry 1 is not in the bundle", is: bundle.ErrInclusion},
		{name: "drop a decision", edit: func(b *bundle.Bundle) { b.Decisions = nil },
			want: "log entry 4: no attestation or decision of the bundle refers to it", is: bundle.ErrMismatch},
		{name: "key id", edit: func(b *bundle.Bundle) { b.Keys[0].KeyID = other.ID },
			want: "key 1 (" + other.ID + "): key id does not match the key", is: bundle.ErrSignature},
		{name: "digest", edit: func(b *bundle.Bundle) { b.Digest = digestOf([]byte("another artifact")) },
			want: "envelope 1 (https://slsa.dev/provenance/v1): statement subject is not", is: bundle.ErrMismatch},
		{name: "wrong --key", keys: []verify.TrustedKey{other},
			want: "envelope 1 (https://slsa.dev/provenance/v1): signature does not verify with key " + other.ID, is: bundle.ErrSignature},
		{name: "wrong log key", logKey: otherLogKey,
			want: "log key: the bundle's log key", is: bundle.ErrCheckpoint},
		{name: "bundle carries another log key", edit: func(b *bundle.Bundle) { b.LogKey = otherLogKey },
			want: "log key: the bundle's log key", is: bundle.ErrCheckpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := clone(t, f.bundle)
			if tc.edit != nil {
				tc.edit(b)
			}
			keys := tc.keys
			if keys == nil {
				keys = []verify.TrustedKey{f.key}
			}
			logKey := tc.logKey
			if logKey == "" {
				logKey = f.logKey
			}
			_, err := bundle.Verify(context.Background(), b, keys, bundle.WithLogKey(logKey))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, want an error containing %q", err, tc.want)
			}
			var failure *bundle.Failure
			if !errors.Is(err, tc.is) || !errors.As(err, &failure) || failure.Item == "" {
				t.Errorf("Verify = %v, want a *Failure wrapping %v", err, tc.is)
			}
		})
	}
}

func TestUnpinnedBundleLogKeyStillChecksSignatures(t *testing.T) {
	f := newFixture(t)
	b := clone(t, f.bundle)
	b.LogKey = mustOtherLogKey(t)
	_, err := bundle.Verify(context.Background(), b, []verify.TrustedKey{f.key}, bundle.WithBundleLogKeyUnsafe())
	if !errors.Is(err, bundle.ErrCheckpoint) || !strings.Contains(err.Error(), "checkpoint: signature invalid") {
		t.Errorf("Verify with a replaced bundle log key = %v, want checkpoint: signature invalid", err)
	}
}

func TestParseRejects(t *testing.T) {
	f := newFixture(t)
	valid, err := f.bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s := string(valid)
	for name, doc := range map[string]string{
		"empty":           "",
		"not an object":   "[]",
		"trailing data":   s + "{}",
		"unknown key":     strings.Replace(s, `"records"`, `"recordz"`, 1),
		"key case":        strings.Replace(s, `"digest"`, `"Digest"`, 1),
		"duplicate key":   strings.Replace(s, `{"mediaType"`, `{"digest":"x","mediaType"`, 1),
		"media type":      strings.Replace(s, "bundle.v1", "bundle.v2", 1),
		"base64 spelling": strings.Replace(s, `"proof":["`, `"proof":["\u0041`, 1),
		"invalid utf8":    strings.Replace(s, "req-1", "req-\xff", 1),
		"too large":       s + strings.Repeat(" ", bundle.MaxSize),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := bundle.Parse([]byte(doc)); !errors.Is(err, bundle.ErrMalformed) {
				t.Errorf("Parse = %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := bundle.Parse(valid); err != nil {
		t.Errorf("Parse of the valid bundle: %v", err)
	}
}

// TestEveryByteMatters changes every byte of a compact bundle, one at a time, and
// requires Parse or Verify to fail. A compact encoding has no insignificant whitespace;
// the only other spellings of the same values JSON allows (escapes such as \u0041 for
// A) take more than one changed byte to write, so every single-byte change must count.
func TestEveryByteMatters(t *testing.T) {
	f := newFixture(t)
	data, err := f.bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	keys := []verify.TrustedKey{f.key}
	if _, err := bundle.Verify(context.Background(), clone(t, f.bundle), keys, bundle.WithLogKey(f.logKey)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	masks := []byte{0x01, 0x20, 0x80}
	for i := range data {
		for _, m := range masks {
			if testing.Short() && i%7 != 0 {
				continue
			}
			changed := bytes.Clone(data)
			changed[i] ^= m
			b, err := bundle.Parse(changed)
			if err != nil {
				continue
			}
			if _, err := bundle.Verify(context.Background(), b, keys, bundle.WithLogKey(f.logKey)); err == nil {
				t.Fatalf("byte %d changed (%q -> %q) and the bundle still verifies: ...%s...", i, data[i], changed[i],
					changed[max(0, i-40):min(len(changed), i+40)])
			}
		}
	}
	t.Logf("%d bytes x %d changes in %s", len(data), len(masks), time.Since(start))
}

func TestWriteSeedCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzBundle/valid")
	}
	f := newFixture(t)
	data, err := f.bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	corpus := "go test fuzz v1\n[]byte(" + quoteGo(data) + ")\n"
	if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzBundle", "valid"), []byte(corpus), 0o644); err != nil {
		t.Fatal(err)
	}
	// The Example reads an indented copy and the public key.
	var indented bytes.Buffer
	if err := json.Indent(&indented, data, "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')
	for name, content := range map[string][]byte{"bundle.json": indented.Bytes(), "signing.pub": f.signer.PublicKeyPEM()} {
		if err := os.WriteFile(filepath.Join("testdata", name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func quoteGo(b []byte) string { return strconv.Quote(string(b)) }

// mustOtherLogKey returns the verifier key of a new log key with the fixture's origin.
func mustOtherLogKey(t *testing.T) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, "custody.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

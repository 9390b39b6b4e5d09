package verify_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

// Rotation: the old key is trusted for evidence signed in [t0, t1], the new key from t1
// on. Whether an envelope counts depends on when it was signed, not on when it is
// checked.
func TestRotation(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	oldSigner, oldKey := newSigner(t)
	nextSigner, newKey := newSigner(t)
	oldKey.Name, oldKey.NotBefore, oldKey.NotAfter = "old", t0, t1
	newKey.Name, newKey.NotBefore = "new", t1
	// The verifier's own clock is far past both: only SignedAt decides.
	v, err := verify.NewVerifier([]verify.TrustedKey{oldKey, newKey},
		verify.WithClock(func() time.Time { return t1.AddDate(5, 0, 0) }))
	if err != nil {
		t.Fatal(err)
	}
	byOld := sign(t, oldSigner, verify.PayloadTypeInToto, stmt(hexDigest))
	byNew := sign(t, nextSigner, verify.PayloadTypeInToto, stmt(hexDigest))

	for _, tc := range []struct {
		name     string
		env      []byte
		signedAt time.Time
		wantKey  string // "" means ErrUntrusted
	}{
		{"old key inside its window", byOld, t0.Add(time.Hour), oldSigner.KeyID()},
		{"old key at its first instant", byOld, t0, oldSigner.KeyID()},
		{"old key at its last instant", byOld, t1, oldSigner.KeyID()},
		{"old key after its window", byOld, t1.Add(time.Hour), ""},
		{"old key before its window", byOld, t0.Add(-time.Second), ""},
		{"new key before its window", byNew, t1.Add(-time.Hour), ""},
		{"new key inside its window", byNew, t1.Add(time.Hour), nextSigner.KeyID()},
		{"new key long after", byNew, t1.AddDate(3, 0, 0), nextSigner.KeyID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(context.Background(), tc.env, digest, verify.SignedAt(tc.signedAt))
			if tc.wantKey == "" {
				if !errors.Is(err, verify.ErrUntrusted) {
					t.Fatalf("Verify = %+v, %v; want ErrUntrusted", res, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if len(res.KeyIDs) != 1 || res.KeyIDs[0] != tc.wantKey {
				t.Fatalf("verified by %v, want %s", res.KeyIDs, tc.wantKey)
			}
			if !res.SignedAt.Equal(tc.signedAt) {
				t.Errorf("result SignedAt = %s, want %s", res.SignedAt, tc.signedAt)
			}
		})
	}

	t.Run("default is the verifier's clock", func(t *testing.T) {
		if _, err := v.Verify(context.Background(), byOld, digest); !errors.Is(err, verify.ErrUntrusted) {
			t.Fatalf("old key checked now (after t1): %v, want ErrUntrusted", err)
		}
		res, err := v.Verify(context.Background(), byNew, digest)
		if err != nil {
			t.Fatal(err)
		}
		if want := t1.AddDate(5, 0, 0); !res.SignedAt.Equal(want) {
			t.Errorf("SignedAt = %s, want the clock's %s", res.SignedAt, want)
		}
	})

	t.Run("key id is sha256 of the PKIX DER and matches signing.KeyID", func(t *testing.T) {
		der, err := x509.MarshalPKIXPublicKey(oldSigner.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(der)
		want := hex.EncodeToString(sum[:])
		got, err := signing.KeyID(oldKey.Public)
		if err != nil {
			t.Fatal(err)
		}
		if oldKey.ID != want || got != want || oldSigner.KeyID() != want {
			t.Fatalf("ids: trusted %s, signing.KeyID %s, signer %s; want %s", oldKey.ID, got, oldSigner.KeyID(), want)
		}
	})

	t.Run("one key in two windows", func(t *testing.T) {
		again := oldKey
		again.NotBefore, again.NotAfter = t1.AddDate(1, 0, 0), time.Time{}
		v2, err := verify.NewVerifier([]verify.TrustedKey{oldKey, again})
		if err != nil {
			t.Fatal(err)
		}
		if ids := v2.KeyIDs(); len(ids) != 1 {
			t.Fatalf("KeyIDs = %v, want the key once", ids)
		}
		for at, ok := range map[time.Time]bool{t0.Add(time.Hour): true, t1.AddDate(0, 6, 0): false, t1.AddDate(2, 0, 0): true} {
			_, err := v2.Verify(context.Background(), byOld, digest, verify.SignedAt(at))
			if (err == nil) != ok {
				t.Errorf("signed at %s: err = %v, want ok=%v", at, err, ok)
			}
		}
	})
}

func TestLoadTrustFile(t *testing.T) {
	dir := t.TempDir()
	oldSigner, _ := newSigner(t)
	nextSigner, _ := newSigner(t)
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "old.pub"), oldSigner.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	inline := "    publicKey: |\n      " + strings.ReplaceAll(strings.TrimSpace(string(nextSigner.PublicKeyPEM())), "\n", "\n      ") + "\n"
	doc := "keys:\n" +
		"  - name: old\n    publicKey: keys/old.pub\n    notBefore: 2025-01-01T00:00:00Z\n    notAfter: \"2026-01-01T00:00:00Z\"\n" +
		"  - name: new\n" + inline + "    notBefore: 2026-01-01T00:00:00+00:00\n"
	path := filepath.Join(dir, "trust.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := verify.LoadTrustFile(path)
	if err != nil {
		t.Fatalf("LoadTrustFile: %v\n%s", err, doc)
	}
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if len(keys) != 2 ||
		keys[0].Name != "old" || keys[0].ID != oldSigner.KeyID() || !keys[0].NotBefore.Equal(t1.AddDate(-1, 0, 0)) || !keys[0].NotAfter.Equal(t1) ||
		keys[1].Name != "new" || keys[1].ID != nextSigner.KeyID() || !keys[1].NotBefore.Equal(t1) || !keys[1].NotAfter.IsZero() {
		t.Fatalf("keys = %+v", keys)
	}

	pub := filepath.Join(dir, "keys", "old.pub")
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "keys:\n  - name: a\n    publicKey: " + pub + "\n    expires: 2026-01-01T00:00:00Z\n", "expires"},
		{"no keys", "keys: []\n", "no trusted keys"},
		{"no name", "keys:\n  - publicKey: " + pub + "\n", "no name"},
		{"no public key", "keys:\n  - name: a\n", "no publicKey"},
		{"missing key file", "keys:\n  - name: a\n    publicKey: nope.pub\n", "nope.pub"},
		{"garbage inline PEM", "keys:\n  - name: a\n    publicKey: \"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n\"\n", "trusted key a"},
		{"bad time", "keys:\n  - name: a\n    publicKey: " + pub + "\n    notBefore: yesterday\n", "RFC 3339"},
		{"empty window", "keys:\n  - name: a\n    publicKey: " + pub + "\n    notBefore: 2026-01-01T00:00:00Z\n    notAfter: 2025-01-01T00:00:00Z\n", "not after"},
		{"duplicate name", "keys:\n  - name: a\n    publicKey: " + pub + "\n  - name: a\n    publicKey: " + pub + "\n", "twice"},
		{"not yaml", "keys: [\n", "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "trust.yaml")
			if err := os.WriteFile(p, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			keys, err := verify.LoadTrustFile(p)
			if err == nil {
				t.Fatalf("LoadTrustFile = %+v, nil error", keys)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

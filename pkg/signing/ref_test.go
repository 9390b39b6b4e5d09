package signing_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/aws"
	"github.com/sigstore/sigstore/pkg/signature/kms/azure"
	"github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"

	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

// verifies signs a statement with s and checks it against s's public key, as the
// ledger would.
func verifies(t *testing.T, s *signing.Signer) {
	t.Helper()
	const hexDigest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r/app","digest":{"sha256":"` + hexDigest +
		`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`)
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, stmt)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	tk, err := verify.ParseTrustedKeyPEM("k", s.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), env, "sha256:"+hexDigest)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(res.KeyIDs) != 1 || res.KeyIDs[0] != s.KeyID() {
		t.Fatalf("verified by %v, want %s", res.KeyIDs, s.KeyID())
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSignerFiles(t *testing.T) {
	ctx := context.Background()
	encPriv, encPub, err := signing.GenerateKey([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	encPath := writeFile(t, "custody.key", encPriv)

	plain, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(plain)
	plainPath := writeFile(t, "plain.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalPKCS8PrivateKey(p384)
	p384Path := writeFile(t, "p384.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der384}))

	pw := func(p string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(p), nil } }

	t.Run("encrypted", func(t *testing.T) {
		s, err := signing.LoadSigner(ctx, encPath, pw("s3cret"))
		if err != nil {
			t.Fatal(err)
		}
		tk, err := verify.ParseTrustedKeyPEM("k", encPub)
		if err != nil {
			t.Fatal(err)
		}
		if s.KeyID() != tk.ID {
			t.Fatalf("key id %s, want the public key's %s", s.KeyID(), tk.ID)
		}
		verifies(t, s)
	})
	t.Run("encrypted wrong password", func(t *testing.T) {
		if _, err := signing.LoadSigner(ctx, encPath, pw("nope")); !errors.Is(err, signing.ErrWrongPassword) {
			t.Fatalf("err = %v, want ErrWrongPassword", err)
		}
	})
	t.Run("password source fails", func(t *testing.T) {
		boom := errors.New("no terminal")
		if _, err := signing.LoadSigner(ctx, encPath, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})
	t.Run("plain key never asks for a password", func(t *testing.T) {
		var asked atomic.Bool
		s, err := signing.LoadSigner(ctx, plainPath, func() ([]byte, error) { asked.Store(true); return nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		if asked.Load() {
			t.Error("password asked for an unencrypted key")
		}
		if want, _ := signing.KeyID(plain.Public()); s.KeyID() != want {
			t.Fatalf("key id %s, want %s", s.KeyID(), want)
		}
		verifies(t, s)
	})
	t.Run("P-384 refused", func(t *testing.T) {
		if _, err := signing.LoadSigner(ctx, p384Path, nil); !errors.Is(err, signing.ErrUnsupportedKey) {
			t.Fatalf("err = %v, want ErrUnsupportedKey", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := signing.LoadSigner(ctx, filepath.Join(t.TempDir(), "none.key"), nil); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want ErrNotExist", err)
		}
	})
}

func TestLoadSignerBadRefs(t *testing.T) {
	ctx := context.Background()
	for _, ref := range []string{"pkcs11://slot", "k8s://ns/secret", "file:///tmp/custody.key", "AWSKMS://alias/x", "://x"} {
		t.Run(ref, func(t *testing.T) {
			if _, err := signing.LoadSigner(ctx, ref, nil); !errors.Is(err, signing.ErrUnsupportedRef) {
				t.Fatalf("LoadSigner(%q) = %v, want ErrUnsupportedRef", ref, err)
			}
		})
	}
	if _, err := signing.LoadSigner(ctx, "  ", nil); err == nil {
		t.Error("empty reference accepted")
	}
}

// A malformed KMS reference reaches its own provider, which refuses it with the error
// of its ValidReference: proof that each scheme is routed to its provider.
func TestLoadSignerRoutesKMSSchemes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		ref   string
		valid func(string) error
	}{
		{"awskms://not a key", aws.ValidReference},
		{"gcpkms://projects/p/keyRings", gcp.ValidReference},
		{"azurekms://vault-without-key", azure.ValidReference},
		{"hashivault://bad/key/path", hashivault.ValidReference},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			want := tc.valid(tc.ref)
			if want == nil {
				t.Fatalf("test reference %q is valid for its provider; pick an invalid one", tc.ref)
			}
			_, err := signing.LoadSigner(ctx, tc.ref, nil)
			if !errors.Is(err, want) {
				t.Fatalf("LoadSigner(%q) = %v, want the provider's %v", tc.ref, err, want)
			}
		})
	}
}

// fakeVault stands in for HashiCorp Vault's transit engine, a service we cannot run
// here: it is a FAKE implementing just the two endpoints sigstore's hashivault provider
// calls (read a key for its public key; sign a SHA-256 digest), backed by an in-memory
// key. It checks the token and records the calls.
type fakeVault struct {
	priv  crypto.Signer
	token string
	signs atomic.Int32
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != f.token {
		http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
		return
	}
	reply := func(data any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/transit/keys/custody":
		pub, err := cryptoutils.MarshalPublicKeyToPEM(f.priv.Public())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reply(map[string]any{
			"name": "custody", "type": "ecdsa-p256", "latest_version": 1,
			"keys": map[string]any{"1": map[string]any{"name": "P-256", "public_key": string(pub)}},
		})
	case (r.Method == http.MethodPost || r.Method == http.MethodPut) && r.URL.Path == "/v1/transit/sign/custody/sha2-256":
		var req struct {
			Input     string `json:"input"`
			Prehashed bool   `json:"prehashed"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !req.Prehashed {
			http.Error(w, `{"errors":["bad request"]}`, http.StatusBadRequest)
			return
		}
		digest, err := base64.StdEncoding.DecodeString(req.Input)
		if err != nil || len(digest) != sha256.Size {
			http.Error(w, `{"errors":["bad input"]}`, http.StatusBadRequest)
			return
		}
		sig, err := f.priv.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f.signs.Add(1)
		reply(map[string]any{"signature": "vault:v1:" + base64.StdEncoding.EncodeToString(sig), "key_version": 1})
	default:
		http.Error(w, `{"errors":["no handler for route"]}`, http.StatusNotFound)
	}
}

func startVault(t *testing.T, priv crypto.Signer) *fakeVault {
	t.Helper()
	f := &fakeVault{priv: priv, token: "test-token"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("VAULT_ADDR", srv.URL)
	t.Setenv("VAULT_TOKEN", f.token)
	t.Setenv("TRANSIT_SECRET_ENGINE_PATH", "")
	t.Setenv("VAULT_KEY_PREFIX", "")
	return f
}

func TestLoadSignerHashiVault(t *testing.T) {
	ctx := context.Background()
	t.Run("P-256 key signs envelopes that verify", func(t *testing.T) {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		f := startVault(t, priv)
		s, err := signing.LoadSigner(ctx, "hashivault://custody", nil)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := signing.KeyID(priv.Public()); s.KeyID() != want {
			t.Fatalf("key id %s, want Vault's key %s", s.KeyID(), want)
		}
		verifies(t, s)
		if f.signs.Load() != 1 {
			t.Fatalf("Vault signed %d times, want 1: the signature must come from the KMS", f.signs.Load())
		}
	})
	t.Run("other key types refused", func(t *testing.T) {
		priv, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		startVault(t, priv)
		if _, err := signing.LoadSigner(ctx, "hashivault://custody", nil); !errors.Is(err, signing.ErrUnsupportedKey) {
			t.Fatalf("err = %v, want ErrUnsupportedKey", err)
		}
	})
	t.Run("Vault refuses the token", func(t *testing.T) {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		startVault(t, priv)
		t.Setenv("VAULT_TOKEN", "wrong")
		_, err := signing.LoadSigner(ctx, "hashivault://custody", nil)
		if err == nil || !strings.Contains(err.Error(), "hashivault://custody") {
			t.Fatalf("err = %v, want an error naming the reference", err)
		}
	})
}

func TestFromSignerVerifierRefusesOtherKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sv, err := signature.LoadECDSASignerVerifier(p384, crypto.SHA384)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.FromSignerVerifier(context.Background(), sv); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Fatalf("err = %v, want ErrUnsupportedKey", err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sv, _ = signature.LoadECDSASignerVerifier(p256, crypto.SHA256)
	s, err := signing.FromSignerVerifier(context.Background(), sv)
	if err != nil {
		t.Fatal(err)
	}
	verifies(t, s)
}

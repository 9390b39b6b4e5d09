package signing_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

func TestGenerateLoadSignVerify(t *testing.T) {
	priv, pub, err := signing.GenerateKey([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(priv), "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----") {
		t.Fatalf("private key is not in cosign's format: %.60s", priv)
	}
	path := filepath.Join(t.TempDir(), "custody.key")
	if err := os.WriteFile(path, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.LoadSignerFile(path, []byte("wrong")); !errors.Is(err, signing.ErrWrongPassword) {
		t.Fatalf("wrong password: err = %v, want ErrWrongPassword", err)
	}
	s, err := signing.LoadSignerFile(path, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := verify.ParseTrustedKeyPEM("custody", pub)
	if err != nil {
		t.Fatal(err)
	}
	if tk.ID != s.KeyID() || len(s.KeyID()) != 64 {
		t.Fatalf("key ids differ: trusted %s signer %s", tk.ID, s.KeyID())
	}
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	var e dsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	if e.PayloadType != signing.PayloadTypeInToto || e.Payload != base64.StdEncoding.EncodeToString([]byte("hello")) || len(e.Signatures) != 1 {
		t.Fatalf("envelope = %+v", e)
	}
	if e.Signatures[0].KeyID != "" {
		t.Errorf("keyid = %q; cosign's verifier skips signatures whose keyid it does not compute itself", e.Signatures[0].KeyID)
	}
}

func TestParsePrivateKeyRejectsJunk(t *testing.T) {
	for _, in := range []string{"", "not pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := signing.ParsePrivateKeyPEM([]byte(in), nil); err == nil {
			t.Errorf("ParsePrivateKeyPEM(%q) = nil error", in)
		}
	}
}

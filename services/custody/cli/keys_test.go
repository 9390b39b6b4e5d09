package cli

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysID(t *testing.T) {
	t.Setenv("CUSTODY_KEY_PASSWORD", "")
	prefix := filepath.Join(t.TempDir(), "release")
	if _, _, code := run(t, "keys", "generate", "--output-prefix", prefix); code != 0 {
		t.Fatalf("keys generate exited %d", code)
	}
	data, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block in the public key")
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(block.Bytes)
	want := hex.EncodeToString(sum[:])

	out, stderr, code := run(t, "keys", "id", prefix+".pub")
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("keys id = %q (exit %d, stderr %q), want %s", out, code, stderr, want)
	}
	for _, args := range [][]string{
		{"keys", "id"},
		{"keys", "id", prefix + ".pub", "extra"},
		{"keys", "id", prefix + ".key"},
		{"keys", "id", filepath.Join(t.TempDir(), "missing.pub")},
		{"keys", "frobnicate"},
	} {
		if out, _, code := run(t, args...); code == 0 {
			t.Errorf("%v exited 0, printing %q", args, out)
		}
	}
}

package cli

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestDevLogKeyGeneratedOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	signer, vkey, err := devLogKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if signer.Name() != devLogOrigin {
		t.Errorf("log key name = %q, want %q", signer.Name(), devLogOrigin)
	}
	st, err := os.Stat(filepath.Join(dir, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("log.key mode = %v, want 0600", st.Mode().Perm())
	}
	again, vkey2, err := devLogKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyHash() != signer.KeyHash() || vkey2 != vkey {
		t.Error("a second start generated a new log key, want the stored one")
	}
	v, err := note.NewVerifier(vkey)
	if err != nil || v.KeyHash() != signer.KeyHash() {
		t.Errorf("log.pub does not verify the log key: %v", err)
	}
}

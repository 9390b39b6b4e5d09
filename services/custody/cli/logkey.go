package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// devLogOrigin names the development ledger's append-only log, and its key.
const devLogOrigin = "custody.dev/ledger"

// devLogKey loads the key that signs the ledger log's checkpoints from dir/log.key
// (private, 0600) and dir/log.pub (the note verifier key), generating both on first
// start. It returns the signer and the verifier key.
func devLogKey(dir string) (note.Signer, string, error) {
	keyPath, pubPath := filepath.Join(dir, "log.key"), filepath.Join(dir, "log.pub")
	skey, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if skey, err = generateLogKey(keyPath, pubPath); err != nil {
			return nil, "", err
		}
	} else if err != nil {
		return nil, "", fmt.Errorf("log key: %w", err)
	}
	vkey, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, "", fmt.Errorf("log key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, "", fmt.Errorf("log key %s: %w", keyPath, err)
	}
	return signer, strings.TrimSpace(string(vkey)), nil
}

// generateLogKey writes a new log key pair; the private key is created exclusively, so
// two first starts cannot overwrite each other's key.
func generateLogKey(keyPath, pubPath string) ([]byte, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, devLogOrigin)
	if err != nil {
		return nil, fmt.Errorf("generate log key: %w", err)
	}
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write log key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write log key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write log key: %w", err)
	}
	if err := os.WriteFile(pubPath, []byte(vkey+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write log verifier key: %w", err)
	}
	return []byte(skey), nil
}

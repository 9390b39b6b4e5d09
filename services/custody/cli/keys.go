package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

func runKeys(_ context.Context, e env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "generate":
			return runKeysGenerate(e, args[1:])
		case "id":
			return runKeysID(e, args[1:])
		}
	}
	return usageErr("say what to do: `custody keys generate [--output-prefix P]` or `custody keys id FILE.pub`")
}

func runKeysGenerate(e env, args []string) error {
	fs := newFlags(e, "keys generate", "keys generate [--output-prefix custody] [--if-missing]")
	prefix := fs.String("output-prefix", "custody", "write `P`.key (encrypted, cosign format) and P.pub")
	ifMissing := fs.Bool("if-missing", false, "do nothing if P.key already exists")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	keyPath, pubPath, err := generateKeyFiles(*prefix, *ifMissing, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "private key: %s (password from CUSTODY_KEY_PASSWORD)\npublic key:  %s\n", keyPath, pubPath)
	return nil
}

// runKeysID prints the key id of a PEM public key: the hex sha256 of its PKIX DER, as
// the ledger records it and trust files are matched by.
func runKeysID(e env, args []string) error {
	fs := newFlags(e, "keys id", "keys id FILE.pub")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("name one PEM public key file: `custody keys id FILE.pub`")
	}
	data, err := os.ReadFile(rest[0])
	if err != nil {
		return err
	}
	k, err := verify.ParseTrustedKeyPEM(rest[0], data)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, k.ID)
	return nil
}

// errNoPassword asks for the key password to be set explicitly.
var errNoPassword = errors.New("set CUSTODY_KEY_PASSWORD to the password that will encrypt the key (it may be empty for development)")

// generateKeyFiles writes prefix.key and prefix.pub, refusing to overwrite a key. With
// requirePassword, CUSTODY_KEY_PASSWORD must be set (possibly empty); otherwise an unset
// variable means an empty password, as `custody dev` uses.
func generateKeyFiles(prefix string, ifMissing, requirePassword bool) (keyPath, pubPath string, err error) {
	keyPath, pubPath = prefix+".key", prefix+".pub"
	if _, err := os.Stat(keyPath); err == nil {
		if ifMissing {
			return keyPath, pubPath, nil
		}
		return "", "", fmt.Errorf("%s exists; refusing to overwrite a signing key (move it away first)", keyPath)
	}
	password, ok := os.LookupEnv("CUSTODY_KEY_PASSWORD")
	if !ok && requirePassword {
		return "", "", errNoPassword
	}
	priv, pub, err := signing.GenerateKey([]byte(password))
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return "", "", err
	}
	f, err := os.OpenFile(keyPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("write private key: %w", err)
	}
	if _, err := f.Write(priv); err != nil {
		f.Close()
		return "", "", fmt.Errorf("write private key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("write private key: %w", err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return "", "", fmt.Errorf("write public key: %w", err)
	}
	return keyPath, pubPath, nil
}

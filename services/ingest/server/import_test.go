package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/daemon/daemontest"
)

// Trusted keys turn attestation import on; ingest then needs a blob bucket too. Without
// keys it needs neither, as before import existed.
func TestMainAttestationImportConfiguration(t *testing.T) {
	t.Setenv("CUSTODY_HTTP_ADDR", "")
	t.Setenv("CUSTODY_TRUSTED_KEYS", "")
	daemontest.CheckUsage(t, Main, "-trusted-keys", "-blob-bucket")
	daemontest.CheckRefusals(t, Main, []daemontest.Case{
		{Name: "import without a bucket", Args: []string{"-trusted-keys", "k.pub", "-blob-bucket", ""},
			WantCode: daemon.ExitConfigError, WantErr: "blob bucket is empty"},
		{Name: "keys from the environment", Env: map[string]string{"CUSTODY_TRUSTED_KEYS": "k.pub"}, Args: []string{"-blob-bucket", ""},
			WantCode: daemon.ExitConfigError, WantErr: "blob bucket is empty"},
	})

	// Without keys, an empty bucket is not a problem: only the NATS URL is named.
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"-blob-bucket", "", "-nats", ""}, &stdout, &stderr)
	if code != daemon.ExitConfigError || !strings.Contains(stderr.String(), "NATS URL is empty") ||
		strings.Contains(stderr.String(), "blob bucket") || strings.Contains(stderr.String(), "trusted keys") {
		t.Errorf("without trusted keys: exit %d, stderr %s; want only the NATS URL named", code, stderr.String())
	}
}

// A trusted key ingest cannot read stops it before it connects to anything, naming the
// file.
func TestMainUnreadableTrustedKey(t *testing.T) {
	t.Setenv("CUSTODY_HTTP_ADDR", "")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pub")
	tokens := filepath.Join(dir, "tokens.yaml")
	file, err := auth.MarshalTokenFile(auth.TokenEntry{Name: "ci", SHA256: auth.HashToken(auth.GenerateToken()), Roles: []auth.Role{auth.RolePipeline}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokens, file, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"-trusted-keys", missing, "-tokens", tokens, "-nats", "nats://127.0.0.1:1"}, &stdout, &stderr)
	if code != daemon.ExitRunError || !strings.Contains(stderr.String(), "missing.pub") {
		t.Errorf("exit %d, want %d naming the key file; stderr %s", code, daemon.ExitRunError, stderr.String())
	}
	if strings.Contains(stderr.String(), "connect to NATS") {
		t.Errorf("ingest tried NATS before loading its trusted keys: %s", stderr.String())
	}
}

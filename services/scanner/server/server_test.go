package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/daemon/daemontest"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	t.Setenv("CUSTODY_SCAN_TMPDIR", "")
	t.Setenv("CUSTODY_VULNDB_URL", "")
	t.Setenv("CUSTODY_SECRETS_FINGERPRINT_KEY_FILE", "")
	missing := filepath.Join(t.TempDir(), "missing")
	short := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(short, []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.CheckRefusals(t, Main, []daemontest.Case{
		{Name: "unknown flag", Args: []string{"-frobnicate"}, WantCode: daemon.ExitUsage, WantErr: "flag provided but not defined: -frobnicate"},
		{Name: "bad duration", Args: []string{"-scan-timeout", "soon"}, WantCode: daemon.ExitUsage, WantErr: `invalid value "soon" for flag -scan-timeout`},
		{Name: "argument", Args: []string{"extra"}, WantCode: daemon.ExitUsage, WantErr: `unexpected argument "extra"`},
		{Name: "concurrency", Args: []string{"-concurrency", "0"}, WantCode: daemon.ExitConfigError, WantErr: "concurrency 0 must be 1-64"},
		{Name: "timeout", Args: []string{"-scan-timeout", "0s"}, WantCode: daemon.ExitConfigError, WantErr: "scan timeout 0s must be positive"},
		{Name: "image size", Args: []string{"-max-image-size", "-1"}, WantCode: daemon.ExitConfigError, WantErr: "max image size -1 must be positive"},
		{Name: "tmpdir", Args: []string{"-tmpdir", missing}, WantCode: daemon.ExitConfigError, WantErr: "is not a directory"},
		{Name: "vulndb", Args: []string{"-vulndb", "ftp://ledger"}, WantCode: daemon.ExitConfigError, WantErr: "is not an http(s) URL"},
		{Name: "fingerprint key", Args: []string{"-secrets-fingerprint-key-file", short}, WantCode: daemon.ExitConfigError, WantErr: "want at least 16"},
		{Name: "replicas", Args: []string{"-replicas", "7"}, WantCode: daemon.ExitConfigError, WantErr: "replicas 7 must be 1-5"},
	})
}

func TestMainHelp(t *testing.T) {
	daemontest.CheckUsage(t, Main, "-tmpdir", "-concurrency", "-scan-timeout", "-max-image-size", "-vulndb", "-secrets-fingerprint-key-file", "-insecure-registries", "-replicas", "-nats")
}

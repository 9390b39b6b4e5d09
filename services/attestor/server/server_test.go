package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/daemon/daemontest"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	t.Setenv("CUSTODY_SIGNING_KEY", "")
	missing := filepath.Join(t.TempDir(), "missing.key")
	daemontest.CheckRefusals(t, Main, []daemontest.Case{
		{Name: "unknown flag", Args: []string{"-frobnicate"}, WantCode: daemon.ExitUsage, WantErr: "flag provided but not defined: -frobnicate"},
		{Name: "argument", Args: []string{"-key", missing, "extra"}, WantCode: daemon.ExitUsage, WantErr: `unexpected argument "extra"`},
		{Name: "no key", WantCode: daemon.ExitConfigError, WantErr: "no signing key: set CUSTODY_SIGNING_KEY or -key"},
		{Name: "concurrency", Args: []string{"-key", missing, "-concurrency", "65"}, WantCode: daemon.ExitConfigError, WantErr: "concurrency 65 must be 1-64"},
		{Name: "scan concurrency", Args: []string{"-key", missing, "-scan-concurrency", "0"}, WantCode: daemon.ExitConfigError, WantErr: "scan concurrency 0 must be 1-64"},
		{Name: "stream name", Args: []string{"-key", missing, "-stream", "a.b"}, WantCode: daemon.ExitConfigError, WantErr: `stream name \"a.b\"`},
		{Name: "referrers mode", Args: []string{"-key", missing, "-referrers", "sometimes"}, WantCode: daemon.ExitConfigError, WantErr: `referrers \"sometimes\": use auto, on or off`},
		{Name: "referrers mode from the environment", Env: map[string]string{"CUSTODY_REFERRERS": "yes"}, Args: []string{"-key", missing}, WantCode: daemon.ExitConfigError, WantErr: `referrers \"yes\"`},
		// Valid configuration, but the key does not load: the run fails before NATS.
		{Name: "missing key file", Args: []string{"-key", missing, "-nats", "nats://127.0.0.1:1"}, WantCode: daemon.ExitRunError, WantErr: "load signing key " + missing},
	})
}

// The key password is taken out of the environment and never written to the log.
func TestMainConsumesPassword(t *testing.T) {
	const secret = "hunter2-do-not-log"
	t.Setenv("CUSTODY_KEY_PASSWORD", secret)
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "missing.key")
	if code := Main(context.Background(), []string{"-key", missing}, &stdout, &stderr); code != daemon.ExitRunError {
		t.Errorf("Main exited %d, want %d; stderr %s", code, daemon.ExitRunError, stderr.String())
	}
	if v, ok := os.LookupEnv("CUSTODY_KEY_PASSWORD"); ok {
		t.Errorf("CUSTODY_KEY_PASSWORD is still set (%d bytes)", len(v))
	}
	if strings.Contains(stderr.String(), secret) {
		t.Error("the log contains the key password")
	}
}

func TestMainHelp(t *testing.T) {
	daemontest.CheckUsage(t, Main, "-key", "-concurrency", "-referrers", "-insecure-registries", "-replicas", "-nats")
}

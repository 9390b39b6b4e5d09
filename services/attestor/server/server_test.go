package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	t.Setenv("CUSTODY_SIGNING_KEY", "")
	missing := filepath.Join(t.TempDir(), "missing.key")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"-frobnicate"}, daemon.ExitUsage, "flag provided but not defined: -frobnicate"},
		{"argument", []string{"-key", missing, "extra"}, daemon.ExitUsage, `unexpected argument "extra"`},
		{"no key", nil, daemon.ExitConfigError, "no signing key: set CUSTODY_SIGNING_KEY or -key"},
		{"concurrency", []string{"-key", missing, "-concurrency", "65"}, daemon.ExitConfigError, "concurrency 65 must be 1-64"},
		{"stream name", []string{"-key", missing, "-stream", "a.b"}, daemon.ExitConfigError, `stream name \"a.b\"`},
		// Valid configuration, but the key does not load: the run fails before NATS.
		{"missing key file", []string{"-key", missing, "-nats", "nats://127.0.0.1:1"}, daemon.ExitRunError, "load signing key " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("Main exited %d, want %d; stderr %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not name the problem %q", stderr.String(), tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
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
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("Main -h exited %d, want 0", code)
	}
	for _, flag := range []string{"-key", "-concurrency", "-insecure-registries", "-replicas", "-nats"} {
		if !strings.Contains(stderr.String(), flag+" ") {
			t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
		}
	}
}

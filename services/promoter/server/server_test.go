package server

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	for _, k := range []string{"CUSTODY_POLICY_DIR", "CUSTODY_TRUSTED_KEYS", "CUSTODY_INSECURE_REGISTRIES"} {
		t.Setenv(k, "")
	}
	missing := filepath.Join(t.TempDir(), "missing.pub")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"-frobnicate"}, daemon.ExitUsage, "flag provided but not defined: -frobnicate"},
		{"argument", []string{"-trusted-keys", missing, "extra"}, daemon.ExitUsage, `unexpected argument "extra"`},
		{"no trusted keys", nil, daemon.ExitConfigError, "no trusted keys"},
		{"empty blob bucket", []string{"-trusted-keys", missing, "-blob-bucket", ""}, daemon.ExitConfigError, "blob bucket is empty"},
		// Valid configuration, but the key file is missing: the run fails before NATS.
		{"missing key file", []string{"-trusted-keys", missing, "-nats", "nats://127.0.0.1:1"}, daemon.ExitRunError, "missing.pub"},
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

func TestMainHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("Main -h exited %d, want 0", code)
	}
	for _, flag := range []string{"-policies", "-trusted-keys", "-insecure-registries", "-blob-bucket", "-nats"} {
		if !strings.Contains(stderr.String(), flag+" ") {
			t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
		}
	}
}

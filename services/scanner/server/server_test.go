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
	t.Setenv("CUSTODY_SCAN_TMPDIR", "")
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"-frobnicate"}, daemon.ExitUsage, "flag provided but not defined: -frobnicate"},
		{"bad duration", []string{"-scan-timeout", "soon"}, daemon.ExitUsage, `invalid value "soon" for flag -scan-timeout`},
		{"argument", []string{"extra"}, daemon.ExitUsage, `unexpected argument "extra"`},
		{"concurrency", []string{"-concurrency", "0"}, daemon.ExitConfigError, "concurrency 0 must be 1-64"},
		{"timeout", []string{"-scan-timeout", "0s"}, daemon.ExitConfigError, "scan timeout 0s must be positive"},
		{"image size", []string{"-max-image-size", "-1"}, daemon.ExitConfigError, "max image size -1 must be positive"},
		{"tmpdir", []string{"-tmpdir", missing}, daemon.ExitConfigError, "is not a directory"},
		{"replicas", []string{"-replicas", "7"}, daemon.ExitConfigError, "replicas 7 must be 1-5"},
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
	for _, flag := range []string{"-tmpdir", "-concurrency", "-scan-timeout", "-max-image-size", "-insecure-registries", "-replicas", "-nats"} {
		if !strings.Contains(stderr.String(), flag+" ") {
			t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
		}
	}
}

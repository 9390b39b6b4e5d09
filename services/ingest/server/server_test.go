package server

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	t.Setenv("CUSTODY_HTTP_ADDR", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"-frobnicate"}, daemon.ExitUsage, "flag provided but not defined: -frobnicate"},
		{"argument", []string{"extra"}, daemon.ExitUsage, `unexpected argument "extra"`},
		{"http address", []string{"-http", "nowhere"}, daemon.ExitConfigError, `http address \"nowhere\"`},
		{"empty NATS URL", []string{"-nats", ""}, daemon.ExitConfigError, "NATS URL is empty"},
		{"subject prefix", []string{"-subject-prefix", "a b"}, daemon.ExitConfigError, `subject prefix \"a b\"`},
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
	for _, flag := range []string{"-http", "-nats", "-stream", "-subject-prefix"} {
		if !strings.Contains(stderr.String(), flag+" ") {
			t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
		}
	}
}

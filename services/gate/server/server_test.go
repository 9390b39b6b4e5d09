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
	for _, k := range []string{"CUSTODY_POLICY_DIR", "CUSTODY_LEDGER_URL", "CUSTODY_LEDGER_TOKEN", "CUSTODY_TRUSTED_KEYS", "CUSTODY_EVIDENCE_WAIT"} {
		t.Setenv(k, "")
	}
	ok := []string{"-policies", "policies", "-ledger", "http://ledger:8081", "-trusted-keys", "k.pub"}
	tests := []struct {
		name     string
		env      string // CUSTODY_EVIDENCE_WAIT
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", "", []string{"-frobnicate"}, daemon.ExitUsage, "flag provided but not defined: -frobnicate"},
		{"argument", "", append(ok, "extra"), daemon.ExitUsage, `unexpected argument "extra"`},
		{"no policies", "", []string{"-ledger", "http://ledger:8081", "-trusted-keys", "k.pub"}, daemon.ExitConfigError, "policy directory is empty"},
		{"no ledger", "", []string{"-policies", "policies", "-trusted-keys", "k.pub"}, daemon.ExitConfigError, "ledger URL is empty"},
		{"no trusted keys", "", []string{"-policies", "policies", "-ledger", "http://ledger:8081"}, daemon.ExitConfigError, "no trusted keys"},
		{"negative wait", "", append(ok, "-evidence-wait", "-1s"), daemon.ExitConfigError, "evidence wait -1s is negative"},
		{"wait in the environment", "soon", ok, daemon.ExitConfigError, "CUSTODY_EVIDENCE_WAIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CUSTODY_EVIDENCE_WAIT", tt.env)
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
	for _, flag := range []string{"-policies", "-ledger", "-ledger-token", "-evidence-wait", "-trusted-keys", "-nats"} {
		if !strings.Contains(stderr.String(), flag+" ") {
			t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
		}
	}
}

package server

import (
	"path/filepath"
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/daemon/daemontest"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	for _, k := range []string{"CUSTODY_POLICY_DIR", "CUSTODY_TRUSTED_KEYS", "CUSTODY_INSECURE_REGISTRIES", "CUSTODY_DECISION_KEYS"} {
		t.Setenv(k, "")
	}
	missing := filepath.Join(t.TempDir(), "missing.pub")
	daemontest.CheckRefusals(t, Main, []daemontest.Case{
		{Name: "unknown flag", Args: []string{"-frobnicate"}, WantCode: daemon.ExitUsage, WantErr: "flag provided but not defined: -frobnicate"},
		{Name: "argument", Args: []string{"-trusted-keys", missing, "-decision-keys", missing, "extra"}, WantCode: daemon.ExitUsage, WantErr: `unexpected argument "extra"`},
		{Name: "no trusted keys", Args: []string{"-decision-keys", missing}, WantCode: daemon.ExitConfigError, WantErr: "no trusted keys"},
		{Name: "no decision keys", Args: []string{"-trusted-keys", missing}, WantCode: daemon.ExitConfigError, WantErr: "no decision keys"},
		{Name: "empty blob bucket", Args: []string{"-trusted-keys", missing, "-decision-keys", missing, "-blob-bucket", ""}, WantCode: daemon.ExitConfigError, WantErr: "blob bucket is empty"},
		// Valid configuration, but the key file is missing: the run fails before NATS.
		{Name: "missing key file", Args: []string{"-trusted-keys", missing, "-decision-keys", missing, "-nats", "nats://127.0.0.1:1"}, WantCode: daemon.ExitRunError, WantErr: "missing.pub"},
	})
}

func TestMainHelp(t *testing.T) {
	daemontest.CheckUsage(t, Main, "-policies", "-trusted-keys", "-decision-keys", "-insecure-registries", "-blob-bucket", "-nats")
}

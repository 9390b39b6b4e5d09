package server

import (
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/daemon/daemontest"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	for _, k := range []string{"CUSTODY_POLICY_DIR", "CUSTODY_LEDGER_URL", "CUSTODY_LEDGER_TOKEN", "CUSTODY_TRUSTED_KEYS", "CUSTODY_EVIDENCE_WAIT", "CUSTODY_GATE_SIGNING_KEY"} {
		t.Setenv(k, "")
	}
	ok := []string{"-policies", "policies", "-ledger", "http://ledger:8081", "-trusted-keys", "k.pub", "-key", "gate.key"}
	daemontest.CheckRefusals(t, Main, []daemontest.Case{
		{Name: "unknown flag", Args: []string{"-frobnicate"}, WantCode: daemon.ExitUsage, WantErr: "flag provided but not defined: -frobnicate"},
		{Name: "argument", Args: append(ok, "extra"), WantCode: daemon.ExitUsage, WantErr: `unexpected argument "extra"`},
		{Name: "no decision key", Args: []string{"-policies", "policies", "-ledger", "http://ledger:8081", "-trusted-keys", "k.pub"}, WantCode: daemon.ExitConfigError, WantErr: "no decision signing key"},
		{Name: "no policies", Args: []string{"-ledger", "http://ledger:8081", "-trusted-keys", "k.pub", "-key", "gate.key"}, WantCode: daemon.ExitConfigError, WantErr: "policy directory is empty"},
		{Name: "no ledger", Args: []string{"-policies", "policies", "-trusted-keys", "k.pub", "-key", "gate.key"}, WantCode: daemon.ExitConfigError, WantErr: "ledger URL is empty"},
		{Name: "no trusted keys", Args: []string{"-policies", "policies", "-ledger", "http://ledger:8081", "-key", "gate.key"}, WantCode: daemon.ExitConfigError, WantErr: "no trusted keys"},
		{Name: "negative wait", Args: append(ok, "-evidence-wait", "-1s"), WantCode: daemon.ExitConfigError, WantErr: "evidence wait -1s is negative"},
		{Name: "wait in the environment", Args: ok, Env: map[string]string{"CUSTODY_EVIDENCE_WAIT": "soon"}, WantCode: daemon.ExitConfigError, WantErr: "CUSTODY_EVIDENCE_WAIT"},
	})
}

func TestMainHelp(t *testing.T) {
	daemontest.CheckUsage(t, Main, "-policies", "-ledger", "-ledger-token", "-evidence-wait", "-trusted-keys", "-nats", "-key", "-insecure-registries")
}

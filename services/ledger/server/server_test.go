package server

import (
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/daemon/daemontest"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	for _, k := range []string{"CUSTODY_DB", "CUSTODY_HTTP_ADDR", "CUSTODY_TRUSTED_KEYS", "CUSTODY_LOG_KEY", "CUSTODY_LOG_PUB"} {
		t.Setenv(k, "") // the defaults, whatever the environment of the test
	}
	daemontest.CheckRefusals(t, Main, []daemontest.Case{
		{Name: "unknown flag", Args: []string{"-frobnicate"}, WantCode: daemon.ExitUsage, WantErr: "flag provided but not defined: -frobnicate"},
		{Name: "argument", Args: []string{"-trusted-keys", "k.pub", "extra"}, WantCode: daemon.ExitUsage, WantErr: `unexpected argument "extra"`},
		{Name: "http address", Args: []string{"-trusted-keys", "k.pub", "-http", "nowhere"}, WantCode: daemon.ExitConfigError, WantErr: `http address \"nowhere\"`},
		{Name: "empty db", Args: []string{"-trusted-keys", "k.pub", "-db", ""}, WantCode: daemon.ExitConfigError, WantErr: "database is empty"},
		{Name: "no trusted keys", Args: []string{"-trusted-keys", ""}, WantCode: daemon.ExitConfigError, WantErr: "no trusted keys"},
		{Name: "half a log key", Args: []string{"-trusted-keys", "k.pub", "-log-key", "log.key"}, WantCode: daemon.ExitConfigError, WantErr: "set both CUSTODY_LOG_KEY and CUSTODY_LOG_PUB"},
	})
}

func TestMainHelp(t *testing.T) {
	daemontest.CheckUsage(t, Main, "-db", "-http", "-trusted-keys", "-log-key", "-decision-keys", "-nats", "-blob-bucket")
}

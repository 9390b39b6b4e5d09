package server

import (
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/daemon/daemontest"
)

// Main refuses arguments and configurations it cannot run with before it connects to
// anything, naming the problem on stderr.
func TestMainRefusesBadConfiguration(t *testing.T) {
	t.Setenv("CUSTODY_HTTP_ADDR", "")
	daemontest.CheckRefusals(t, Main, []daemontest.Case{
		{Name: "unknown flag", Args: []string{"-frobnicate"}, WantCode: daemon.ExitUsage, WantErr: "flag provided but not defined: -frobnicate"},
		{Name: "argument", Args: []string{"extra"}, WantCode: daemon.ExitUsage, WantErr: `unexpected argument "extra"`},
		{Name: "http address", Args: []string{"-http", "nowhere"}, WantCode: daemon.ExitConfigError, WantErr: `http address \"nowhere\"`},
		{Name: "empty NATS URL", Args: []string{"-nats", ""}, WantCode: daemon.ExitConfigError, WantErr: "NATS URL is empty"},
		{Name: "subject prefix", Args: []string{"-subject-prefix", "a b"}, WantCode: daemon.ExitConfigError, WantErr: `subject prefix \"a b\"`},
		{Name: "no credential admitted", Env: map[string]string{"CUSTODY_TOKENS_FILE": ""}, WantCode: daemon.ExitConfigError, WantErr: "the API admits no credential"},
	})
}

func TestMainHelp(t *testing.T) {
	daemontest.CheckUsage(t, Main, "-http", "-nats", "-stream", "-subject-prefix", "-tokens", "-oidc-issuer", "-tls-cert", "-client-ca", "-rate-limit")
}

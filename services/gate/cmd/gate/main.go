// Command gate decides promotion requests against Custody's policies.
//
// Its flags and the CUSTODY_* environment variables they default to (CUSTODY_POLICY_DIR,
// CUSTODY_TRUSTED_KEYS, CUSTODY_LEDGER_URL, CUSTODY_EVIDENCE_WAIT, CUSTODY_NATS_URL, ...)
// are documented in package server, which `custody serve gate` runs too; `gate -h` lists
// them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody-dev/custody/services/gate/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

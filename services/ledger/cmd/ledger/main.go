// Command ledger records every Custody event and verified attestation and serves the
// provenance and promotion-status API.
//
// Its flags and the CUSTODY_* environment variables they default to (CUSTODY_DB,
// CUSTODY_TRUSTED_KEYS, CUSTODY_HTTP_ADDR, CUSTODY_NATS_URL, ...) are documented in
// package server, which `custody serve ledger` runs too; `ledger -h` lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody-dev/custody/services/ledger/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Command promoter copies images whose promotion the gate allowed.
//
// Its flags and the CUSTODY_* environment variables they default to
// (CUSTODY_TRUSTED_KEYS, CUSTODY_POLICY_DIR, CUSTODY_INSECURE_REGISTRIES,
// CUSTODY_NATS_URL, ...) are documented in package server, which `custody serve promoter`
// runs too; `promoter -h` lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody-dev/custody/services/promoter/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

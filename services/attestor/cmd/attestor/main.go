// Command attestor signs provenance and SBOM statements for images as build and scan
// events arrive, stores the envelopes, and attaches them to the images.
//
// Its flags and the CUSTODY_* environment variables they default to (CUSTODY_SIGNING_KEY,
// CUSTODY_KEY_PASSWORD, CUSTODY_NATS_URL, CUSTODY_INSECURE_REGISTRIES, ...) are documented
// in package server, which `custody serve attestor` runs too; `attestor -h` lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody-dev/custody/services/attestor/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Command scanner pulls images named by build events, catalogues their software into
// CycloneDX SBOMs, stores them in the blob store and publishes scan events.
//
// Its flags and the CUSTODY_* environment variables they default to (CUSTODY_NATS_URL,
// CUSTODY_BLOB_BUCKET, CUSTODY_INSECURE_REGISTRIES, CUSTODY_SCAN_TMPDIR, ...) are
// documented in package server, which `custody serve scanner` runs too; `scanner -h`
// lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody-dev/custody/services/scanner/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

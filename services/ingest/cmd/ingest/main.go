// Command ingest serves Custody's build-event, promotion-request and attestation-import
// endpoints.
//
// Its flags and the CUSTODY_* environment variables they default to (CUSTODY_HTTP_ADDR,
// CUSTODY_NATS_URL, CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, and for attestation import
// CUSTODY_TRUSTED_KEYS and CUSTODY_BLOB_BUCKET) are documented in package server, which
// `custody serve ingest` runs too; `ingest -h` lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody-dev/custody/services/ingest/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

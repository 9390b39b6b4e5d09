// Package server is ingest as a process: its configuration (flags that default to the
// environment), the validation of that configuration, and the wiring of the ingest
// service to NATS and its HTTP server. Main runs it; both the ingest binary (cmd/ingest)
// and `custody serve ingest` call Main, so they take the same settings.
//
// Configuration comes from flags, which default to the environment: CUSTODY_HTTP_ADDR
// (127.0.0.1:8080), CUSTODY_NATS_URL (nats://127.0.0.1:4222), CUSTODY_STREAM and
// CUSTODY_SUBJECT_PREFIX. CUSTODY_TRUSTED_KEYS (the same keys the ledger trusts) turns on
// attestation import (POST /v1/attestations), which then also uses CUSTODY_BLOB_BUCKET
// (default CUSTODY_BLOBS); without trusted keys import answers 501.
//
// It is not for embedding ingest in a process wired differently (as `custody dev` does):
// build one from package ingest (services/ingest) instead.
package server

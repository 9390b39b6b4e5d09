// Package server is the scanner as a process: its configuration (flags that default to
// the environment), the validation of that configuration, and the wiring of the scanner
// service to NATS, the blob store and registries. Main runs it; both the scanner binary
// (cmd/scanner) and `custody serve scanner` call Main, so they take the same settings.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM (CUSTODY), CUSTODY_SUBJECT_PREFIX (custody),
// CUSTODY_BLOB_BUCKET (CUSTODY_BLOBS), CUSTODY_INSECURE_REGISTRIES (comma-separated
// registry hosts to reach over plain HTTP), CUSTODY_SCAN_TMPDIR (where layers are cached
// while they are read; default the system temporary directory). Registry credentials come
// from the Docker config (~/.docker/config.json) and credential helpers.
//
// It is not for embedding the scanner in a process wired differently (as `custody dev`
// does): build one from package scanner (services/scanner) instead.
package server

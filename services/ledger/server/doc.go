// Package server is the ledger as a process: its configuration (flags that default to the
// environment), the validation of that configuration, and the wiring of the ledger service
// to its database, NATS and HTTP server. Main runs it; both the ledger binary
// (cmd/ledger) and `custody serve ledger` call Main, so they take the same settings.
//
// Configuration comes from flags, which default to the environment: CUSTODY_DB
// (./custody.db: a SQLite file path, or a postgres:// or postgresql:// URL for
// PostgreSQL), CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files; required),
// CUSTODY_HTTP_ADDR (127.0.0.1:8081), CUSTODY_NATS_URL (nats://127.0.0.1:4222),
// CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX and CUSTODY_BLOB_BUCKET (CUSTODY_BLOBS), and
// CUSTODY_LOG_KEY and CUSTODY_LOG_PUB: the note private and verifier key files that sign
// the append-only log's checkpoints (optional; without them no checkpoint is served).
//
// It is not for embedding the ledger in a process wired differently (as `custody dev`
// does): build one from package ledger (services/ledger) instead.
package server

// Package server is the gate as a process: its configuration (flags that default to the
// environment), the validation of that configuration, and the wiring of the gate service
// to its policies, trusted keys, the ledger's API, NATS and the blob store. Main runs it;
// both the gate binary (cmd/gate) and `custody serve gate` call Main, so they take the
// same settings.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_POLICY_DIR (a directory of *.yaml policies),
// CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files), CUSTODY_LEDGER_URL (the
// ledger's HTTP API, asked for evidence), CUSTODY_LEDGER_TOKEN and CUSTODY_EVIDENCE_WAIT
// (30s).
//
// It is not for embedding the gate in a process wired differently (as `custody dev`
// does): build one from package gate (services/gate) instead.
package server

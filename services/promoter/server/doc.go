// Package server is the promoter as a process: its configuration (flags that default to
// the environment), the validation of that configuration, and the wiring of the promoter
// service to its trusted keys, optional policies, NATS, the blob store and registries.
// Main runs it; both the promoter binary (cmd/promoter) and `custody serve promoter` call
// Main, so they take the same settings.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files),
// CUSTODY_INSECURE_REGISTRIES (comma-separated registry hosts to reach over plain HTTP)
// and, optionally, CUSTODY_POLICY_DIR: when set, each decision's policy is re-evaluated
// over the re-verified evidence before copying. Registry credentials come from the Docker
// configuration ($DOCKER_CONFIG/config.json and credential helpers).
//
// It is not for embedding the promoter in a process wired differently (as `custody dev`
// does): build one from package promoter (services/promoter) instead.
package server

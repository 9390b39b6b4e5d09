// Package server is the attestor as a process: its configuration (flags that default to
// the environment), the validation of that configuration, and the wiring of the attestor
// service to its signing key, NATS, the blob store and registries. Main runs it; both the
// attestor binary (cmd/attestor) and `custody serve attestor` call Main, so they take the
// same settings.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_INSECURE_REGISTRIES (comma-separated registry hosts to reach
// over plain HTTP), CUSTODY_SIGNING_KEY (a key reference: the path of a cosign-format key
// file, or a KMS URI: awskms://, gcpkms://, azurekms://, hashivault://; KMS credentials
// come from each provider's usual environment), and CUSTODY_REFERRERS (auto, the default:
// also attach each envelope as a Sigstore bundle referrer where the registry implements
// the OCI referrers API; on; or off). A key file's password is read from
// CUSTODY_KEY_PASSWORD only, removed from the environment once read, and never logged.
// Registry credentials come from the Docker config (~/.docker/config.json) and credential
// helpers.
//
// It is not for embedding the attestor in a process wired differently (as `custody dev`
// does): build one from package attestor (services/attestor) instead.
package server

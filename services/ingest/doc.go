// Package ingest is Custody's front door for pipelines: an HTTP service that accepts
// build events and promotion requests, validates them as untrusted input, and publishes
// them on the event stream (custody.build.completed, custody.promotion.requested).
//
// With trusted keys and a blob store (WithVerifier, WithBlobs) it also imports
// attestations signed elsewhere, for example by `cosign attest --key`: POST
// /v1/attestations verifies the DSSE envelope against the trusted keys and the pinned
// subject digest, stores it, and publishes custody.attestation.signed for the ledger.
//
// Every answer is JSON with security headers; a bad request names the field that was
// wrong. Accepting a request means only that its event is stored on the stream: the work
// (scanning, attesting, deciding) happens downstream and is observed through events.
//
// It does not yet parse CloudEvents or registry push notifications, and it does not
// authenticate senders itself; mount Handler behind the API's authentication.
package ingest

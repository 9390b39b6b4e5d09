// Package bundle is Custody's offline evidence bundle: one JSON document
// (application/vnd.custody.bundle.v1+json) holding everything needed to check, with no
// server and no network, what the ledger recorded about one artifact digest, and the
// verifier that checks it.
//
// A bundle carries, for the digest:
//
//   - every DSSE envelope the ledger recorded (provenance, SBOM, scan results, ...),
//     byte for byte, with the log index of its entry;
//   - the public keys (PKIX PEM and key id, the hex sha256 of the DER) that signed them;
//   - the ledger's signed checkpoint (a C2SP signed note, see package tlog) and the
//     note verifier key of the log;
//   - for each log entry about the digest (attestations and decisions) the entry's
//     leaf data, its index and an RFC 6962 inclusion proof against that checkpoint;
//   - the gate's decisions and the promotions, with a note the log key signed over
//     them (the "records" note), because the log holds only part of a decision and
//     nothing of a promotion.
//
// # Trust model
//
// Verify trusts exactly what its caller supplies: the artifact signing keys (required)
// and, with WithLogKey, the log's note verifier key. Nothing a bundle carries about
// itself is believed because it is there: its keys only name which keys signed, and
// each must equal (by key id and canonical PEM) one the caller gave; its log key is
// compared with the caller's. An envelope verifies only with a caller's key, its
// statement must name the bundle's digest, its bytes must hash to the envelope digest
// in its log entry, and that entry must be included under the checkpoint signed by the
// caller's log key. Decisions must equal what their log entries record; their other
// fields and the promotions are covered by the records note, which proves only that
// the ledger holding the log key said so when it exported the bundle (the same trust
// as asking its API online). A promotion's status must also agree with a logged
// decision for its request.
//
// Without a pinned log key (WithBundleLogKeyUnsafe) the checkpoint is checked with the
// key the bundle carries, which proves nothing: anyone who can edit the file can make a
// new log, key and checkpoint. What then still holds is that every envelope was signed
// by a caller's key about this digest; that the ledger logged them, and the decisions
// and promotions, are unproven, and Result.LogKeyPinned says so.
//
// Parsing is strict, so that a changed byte cannot go unnoticed: a size limit, exact
// (case-sensitive) known keys, no duplicate keys, no trailing data, valid UTF-8,
// canonical base64 and PEM, and canonical signature lines in signed notes. Only JSON
// whitespace between tokens is insignificant (the CLI indents bundles for reading).
//
// It is not the exporter: the ledger service builds bundles from its store (GET
// /v1/artifacts/{digest}/bundle) and the custody CLI writes and verifies files. Nor is
// it a Sigstore bundle: there is no Rekor or Fulcio here, only Custody's own log.
package bundle

// Package ledger is Custody's record of what happened to every artifact: the domain
// model (event history, builds, verified attestations, scans, gate decisions and
// promotions, and each artifact's packages from the SBOMs of its scans), the queries
// auditors ask (provenance, promotion status, artifacts and decisions listed by filters,
// packages by name for affected-by queries), and the Store interface that every database
// behind the ledger implements.
//
// Listings are paginated with cursors (EncodeCursor, DecodeCursor): keyset positions,
// stable under concurrent inserts, tamper-evident and bound to the listing's filters. They
// run in a Scope, the repositories a caller may see; a request without one is refused.
//
// Every write is idempotent on content, because events are delivered at least once:
// writing the same record twice reports Inserted false the second time and changes
// nothing. Requests are validated on the way in (digests must be sha256:<64 hex>, text
// must be bounded UTF-8), so every Store rejects the same bad input with ErrInvalid.
//
// Implementations live in their own packages (ledger/sqlite, ledger/postgres) and are
// held to one behaviour by the conformance suite in ledger/ledgertest.
//
// It is not the verifier: it stores what the ledger service has already verified with
// package verify, and trusts its caller on that. Nor is it the append-only Merkle log:
// an attestation's LogIndex is -1 until that log exists.
package ledger

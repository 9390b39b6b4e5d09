// Package tlog is Custody's append-only transparency log: RFC 6962/9162 Merkle tree
// hashing, inclusion and consistency proofs, and checkpoints in the C2SP signed-note
// format (https://c2sp.org/tlog-checkpoint), signed with an Ed25519 note key.
//
// The ledger appends one entry for every attestation and decision it records and
// publishes signed checkpoints of the tree; anyone holding an earlier checkpoint can
// then prove that a later state of the log only added entries, and an edit to a stored
// entry changes its leaf hash and so the root.
//
// Hashing and proof verification are github.com/transparency-dev/merkle's; this
// package adds proof generation over a list of leaf hashes held in memory (fine for
// logs of up to millions of entries, not a tile-based log server), and the checkpoint
// text format. It does not store entries: the ledger Store does.
package tlog

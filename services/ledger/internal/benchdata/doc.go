// Package benchdata generates a realistic ledger for the auditors' query benchmarks
// (docs/benchmarks.md, "Auditors' queries"): artifacts with their builds, attestations
// (appended to the log), scans, package inventories drawn from a fixed catalog of
// Debian, PyPI, npm and Go packages, events, decisions and promotions, and a synthetic
// vulnerability database. Generation is deterministic: the same Config always yields the
// same records, so the benchmark can recompute any artifact's digest (ArtifactDigest) and
// knows from the Manifest what each affected-by query must find.
//
// It is for benchmarks and their tests only, not for seeding real ledgers. The command
// services/ledger/cmd/genledger runs it.
package benchdata

// Package attestation builds the in-toto Statements (Attestation Framework v1) Custody
// signs: SLSA Provenance v1 from a build event, and SBOM statements whose predicate is a
// CycloneDX document. Output is canonical JSON (sorted keys, no insignificant space), so
// the same input always yields the same bytes.
//
// It neither signs nor verifies: see packages signing and verify.
package attestation

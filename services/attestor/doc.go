// Package attestor is the Custody service that turns what is known about an image into
// signed evidence. It consumes custody.build.completed (→ SLSA Provenance v1) and
// custody.scan.completed (→ CycloneDX SBOM statement, for COMPLETE and INCOMPLETE scans),
// builds the in-toto statement, signs it as a DSSE envelope, stores the envelope in the
// blob store, attaches it to the image in the layout cosign reads (the .att tag, and where
// the registry has the OCI referrers API a Sigstore bundle referrer too; see
// WithReferrers), and publishes custody.attestation.signed.
//
// Delivery is at least once and ECDSA signatures are randomised, so signing again on
// redelivery would create a second, different envelope for the same statement. The
// attestor therefore remembers, in a JetStream key-value bucket, which envelope it made
// for each (digest, predicate type, statement) and reuses it: a redelivered event adds
// no new blob, layer or attestation. Attaches to one image are serialised within a
// process; replicas attaching to the same image at the same moment can still race on the
// .att tag (see oci.Attach), and the blob store and event keep the envelope either way.
//
// It does not verify or record attestations (the ledger does) or decide anything.
package attestor

// Package oci moves Custody's evidence through OCI registries: it attaches signed
// attestations to images in the layout cosign reads (a sha256-<hex>.att tag whose
// manifest has one DSSE envelope per layer), reads them back, and copies an image with
// its attachments from one repository to another by digest for promotion. Where a
// registry implements the OCI referrers API (SupportsReferrers), it also writes and reads
// each envelope as a Sigstore bundle referrer, the layout cosign v3 reads by default
// (AttachBundle, ReadBundleReferrers), and Copy carries those referrers along.
//
// Copy takes an image or a multi-platform index with every platform manifest and blob
// (mounting blobs within one registry), merges the attachments of the index and of each
// platform into what the destination already holds (never dropping any), and is
// idempotent; Tag then points a tag at the copy once the registry answers its digest.
// Both retry transient registry failures (RetryOptions, DefaultBackoff), and callers pass
// the same options to the other functions to retry alike.
//
// A Client is the registry client a service keeps: credentials and transport made
// explicit, so that its Attach appends with its own requests (7 where
// go-containerregistry's writer makes 15), and Options for every other function.
//
// Everything is addressed by digest: references must be pinned by sha256, what a
// registry returns is checked against the digest asked for, and what is read is bounded
// in size. It does not verify signatures (package verify does) or decide policy;
// subpackage ocitest serves an in-memory registry for tests.
package oci

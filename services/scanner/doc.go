// Package scanner is Custody's scanner service: for every custody.build.completed event it
// pulls the image by digest, catalogues its software with pkg/scan, stores the CycloneDX
// SBOM in the blob store and publishes custody.scan.completed naming it.
//
// The durable consumer is "scanner". A build event whose image is not pinned by digest,
// or whose digest field disagrees with the reference, can never succeed and is
// dead-lettered at once. A registry that cannot be reached, or answers with a server
// error, is retried with backoff (and dead-lettered after the last attempt). An image
// the registry says does not exist, one whose manifest does not match the requested
// digest, and one that is not a readable container image produce a scan.completed with
// status FAILED and a detail, so that the failure is visible downstream, and the event
// is acked.
//
// A build that names an image index is scanned per platform (pkg/scan): each platform
// image gets its own scan.completed about its own digest (with the platform and the
// index digest), so each gets its own evidence; then one for the index digest, whose SBOM
// holds every platform's packages and whose status is the worst of the platforms'.
// Attestation manifests in the index (platform unknown/unknown) are not scanned.
//
// Redelivered events are harmless: the SBOM is deterministic, so the blob and the
// published event (whose id is derived from its content) are the same as the first time.
//
// Not for: signing (the attestor signs the SBOM), vulnerability matching, or pulling
// images by tag.
package scanner

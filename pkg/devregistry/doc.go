// Package devregistry is the OCI registry `custody dev` serves: go-containerregistry's
// in-process registry with blobs on disk and a journal of manifest writes that is replayed
// at start, so a restart keeps every image, tag and attachment. It implements the OCI
// referrers API unless opened with WithReferrersAPI(false).
//
// It is for development and tests only: no authentication, no garbage collection, and the
// journal grows with every manifest write. Production uses a real registry.
package devregistry

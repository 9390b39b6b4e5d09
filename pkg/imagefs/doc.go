// Package imagefs reads a container image's layers once, as streams, into an index of the
// image's files that a cataloguer can query, without unpacking anything onto the host.
//
// Read takes a go-containerregistry v1.Image and reads each layer's compressed blob exactly
// once (gzip, zstd or uncompressed, recognised by magic bytes), verifying the blob against
// its digest and the uncompressed stream against the config's diff_ids. It records every
// tar entry of every layer (path, type, mode, size, owner, link target, layer) and builds
// the squashed view a container would see, applying whiteouts (".wh.<name>") and opaque
// directories (".wh..wh..opq") in layer order. Layers are read concurrently (bounded) and
// merged in order.
//
// Layers are untrusted. Entry names are cleaned relative to the image root; a name that
// climbs above the root is an error (ErrInvalidImage). Symbolic links resolve inside the
// image, as in a chroot, with a hop limit so cycles end; hard links resolve to their target
// inside the image. Nothing ever becomes a host path. The number of layers, the
// uncompressed size of each layer and of the image, the entries per layer, the size of one
// file and the length of a path are all bounded (ErrLimitExceeded), so a decompression
// bomb stops as soon as it passes a cap; memory use does not grow with file sizes.
//
// File content is kept only for files a caller-supplied predicate (WithKeep) selects, in
// one private temporary spool file removed by FS.Close. An Observer (WithObserver) sees the
// content of every regular file of every layer, including files a later layer deletes,
// which is what a secret scanner needs.
//
// Not for: extracting images to disk, reading non-tar layers (SquashFS), or cataloguing
// packages (pkg/sbom does that on top of this package). It imports no syft code, so it
// stays small and fuzzable.
package imagefs

package imagefs

import "errors"

// ErrLimitExceeded is returned when an image is larger than a read limit allows: too many
// layers, a layer or the image too large uncompressed, too many tar entries in a layer, a
// file or a path too long. The error names the limit and the option that raises it.
var ErrLimitExceeded = errors.New("image exceeds a scan limit")

// ErrFetch is returned when reading the image from its source failed: listing its layers,
// reading its config, or reading a layer's stream. The cause, which the error wraps, may
// be transient (a network or registry error) or not; inspect it with errors.As.
var ErrFetch = errors.New("read image from its source")

// ErrInvalidImage is returned when the image's data is malformed or hostile: a layer that
// is not a tar stream, a corrupt gzip or zstd stream, an entry name climbing above the
// image root, or a layer whose bytes do not match its digest or diff ID.
var ErrInvalidImage = errors.New("invalid image")

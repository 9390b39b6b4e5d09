package imagefs

import (
	"errors"
	"fmt"
	"io"
)

// Layer names one layer of an image.
type Layer struct {
	// Index is the layer's position, 0 for the base layer.
	Index int
	// Digest is the compressed blob's digest, DiffID the uncompressed tar's.
	Digest, DiffID string
}

// Observer sees every regular file of every layer, in tar order, including files a later
// layer deletes or replaces. Called from several goroutines at once (one per layer read).
type Observer interface {
	// ObserveFile returns where to write the file's content, or nil to skip it. The walker
	// writes the file's bytes (at most size) and then calls Close.
	ObserveFile(layer Layer, path string, size int64) io.WriteCloser
}

// KeepFunc decides whether a regular file's content is kept for FS.Open. path is the
// cleaned absolute path ("/etc/os-release"), size the file's size, head its first bytes
// (up to HeadSize, fewer for a shorter file).
type KeepFunc func(path string, size int64, head []byte) bool

// HeadSize is how many leading bytes of a file a KeepFunc is shown.
const HeadSize = 3072

// Default limits.
const (
	DefaultMaxLayers       = 256
	DefaultMaxLayerSize    = 4 << 30
	DefaultMaxImageSize    = 16 << 30
	DefaultMaxEntries      = 1_000_000
	DefaultMaxImageEntries = 4_000_000
	DefaultMaxFileSize     = 2 << 30
	DefaultMaxPathLength   = 4096
	DefaultConcurrency     = 3
	maxSymlinkHops         = 40
	zstdMaxWindow          = 128 << 20
	zstdMaxDecoderMemory   = 256 << 20
	copyBufferSize         = 128 << 10
)

type options struct {
	maxLayers       int
	maxLayerSize    int64
	maxImageSize    int64
	maxEntries      int
	maxImageEntries int
	maxFileSize     int64
	maxPathLength   int
	concurrency     int
	tempDir         string
	keep            KeepFunc
	observer        Observer
	verifyDiffIDs   bool
}

func defaults() options {
	return options{
		maxLayers: DefaultMaxLayers, maxLayerSize: DefaultMaxLayerSize, maxImageSize: DefaultMaxImageSize,
		maxEntries: DefaultMaxEntries, maxImageEntries: DefaultMaxImageEntries, maxFileSize: DefaultMaxFileSize, maxPathLength: DefaultMaxPathLength,
		concurrency: DefaultConcurrency, verifyDiffIDs: true,
	}
}

// Option configures Read.
type Option func(*options) error

func positive[T int | int64](what string, n T, set func(T)) error {
	if n < 1 {
		return fmt.Errorf("imagefs: %s %d must be positive", what, n)
	}
	set(n)
	return nil
}

// WithMaxLayers bounds the number of layers; an image with more is refused before any
// layer is read. Default DefaultMaxLayers.
func WithMaxLayers(n int) Option {
	return func(o *options) error { return positive("max layers", n, func(v int) { o.maxLayers = v }) }
}

// WithMaxLayerSize bounds one layer's uncompressed size in bytes. Default DefaultMaxLayerSize.
func WithMaxLayerSize(n int64) Option {
	return func(o *options) error { return positive("max layer size", n, func(v int64) { o.maxLayerSize = v }) }
}

// WithMaxImageSize bounds the sum of the layers' uncompressed sizes in bytes. Default
// DefaultMaxImageSize.
func WithMaxImageSize(n int64) Option {
	return func(o *options) error { return positive("max image size", n, func(v int64) { o.maxImageSize = v }) }
}

// WithMaxEntries bounds the number of tar entries in one layer. Default DefaultMaxEntries.
func WithMaxEntries(n int) Option {
	return func(o *options) error { return positive("max entries", n, func(v int) { o.maxEntries = v }) }
}

// WithMaxImageEntries bounds the number of tar entries in all layers together, which
// bounds the memory the index uses. Default DefaultMaxImageEntries.
func WithMaxImageEntries(n int) Option {
	return func(o *options) error { return positive("max image entries", n, func(v int) { o.maxImageEntries = v }) }
}

// WithMaxFileSize bounds the size of one file in a layer. Default DefaultMaxFileSize.
func WithMaxFileSize(n int64) Option {
	return func(o *options) error { return positive("max file size", n, func(v int64) { o.maxFileSize = v }) }
}

// WithMaxPathLength bounds the length in bytes of an entry's name and link target.
// Default DefaultMaxPathLength.
func WithMaxPathLength(n int) Option {
	return func(o *options) error { return positive("max path length", n, func(v int) { o.maxPathLength = v }) }
}

// WithConcurrency sets how many layers are read at once. Default DefaultConcurrency.
func WithConcurrency(n int) Option {
	return func(o *options) error { return positive("concurrency", n, func(v int) { o.concurrency = v }) }
}

// WithTempDir sets the directory in which the content spool file is created. Default
// os.TempDir().
func WithTempDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("imagefs: empty temp dir")
		}
		o.tempDir = dir
		return nil
	}
}

// WithKeep selects the regular files whose content is kept for FS.Open. Default: none.
func WithKeep(keep KeepFunc) Option {
	return func(o *options) error {
		if keep == nil {
			return errors.New("imagefs: nil keep func")
		}
		o.keep = keep
		return nil
	}
}

// WithObserver passes every regular file of every layer to obs as it is read.
func WithObserver(obs Observer) Option {
	return func(o *options) error {
		if obs == nil {
			return errors.New("imagefs: nil observer")
		}
		o.observer = obs
		return nil
	}
}

// WithoutDiffIDVerificationUnsafe skips checking each layer's uncompressed stream against
// the config's diff_ids. The compressed digest is still checked.
func WithoutDiffIDVerificationUnsafe() Option {
	return func(o *options) error { o.verifyDiffIDs = false; return nil }
}

func limitErr(what string, limit int64, opt string, format string, args ...any) error {
	return fmt.Errorf("%s: exceeds the %s limit of %d (raise it with imagefs.%s): %w",
		fmt.Sprintf(format, args...), what, limit, opt, ErrLimitExceeded)
}

package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultMaxSize bounds one object: 64 MiB.
const DefaultMaxSize = 64 << 20

// ErrNotFound is returned when no object has the digest.
var ErrNotFound = errors.New("blob not found")

// ErrCorrupt is returned when an object's bytes do not hash to its name.
var ErrCorrupt = errors.New("blob content does not match its digest")

// Ref names a stored object.
type Ref struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// Store is a content-addressed store on one Object Store bucket.
type Store struct {
	os      jetstream.ObjectStore
	js      jetstream.JetStream
	stream  jetstream.Stream
	bucket  string
	maxSize int64
}

type options struct {
	maxSize  int64
	replicas int
	memory   bool
}

// Option configures Open.
type Option func(*options) error

// WithMaxSize bounds the size of one object.
func WithMaxSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("blob: max size %d must be positive", n)
		}
		o.maxSize = n
		return nil
	}
}

// WithReplicas sets the bucket's replica count (1 in development, 3 in a cluster).
func WithReplicas(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("blob: replicas %d must be 1-5", n)
		}
		o.replicas = n
		return nil
	}
}

// WithMemoryStorage keeps the bucket in memory (tests only).
func WithMemoryStorage() Option {
	return func(o *options) error { o.memory = true; return nil }
}

var bucketRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Open opens the bucket, creating it if it does not exist.
func Open(ctx context.Context, js jetstream.JetStream, bucket string, opts ...Option) (*Store, error) {
	o := options{maxSize: DefaultMaxSize, replicas: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if !bucketRE.MatchString(bucket) {
		return nil, fmt.Errorf("blob: bucket name %q: use 1-64 letters, digits, '-' or '_'", bucket)
	}
	os, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		storage := jetstream.FileStorage
		if o.memory {
			storage = jetstream.MemoryStorage
		}
		os, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      bucket,
			Description: "Custody content-addressed documents",
			Storage:     storage,
			Replicas:    o.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			os, err = js.ObjectStore(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open bucket %s: %w", bucket, err)
	}
	// The bucket's stream, for reading and writing single-chunk objects with direct
	// message gets and two publishes (see small.go).
	stream, err := js.Stream(ctx, fmt.Sprintf(streamNameTmpl, bucket))
	if err != nil {
		return nil, fmt.Errorf("blob: open bucket %s: stream: %w", bucket, err)
	}
	return &Store{os: os, js: js, stream: stream, bucket: bucket, maxSize: o.maxSize}, nil
}

// Digest returns sha256:<hex> of data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// ValidDigest reports whether d is sha256:<64 lowercase hex>.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

func key(digest string) string { return strings.Replace(digest, ":", "-", 1) }

// Put stores data under its digest. Storing the same bytes again is a no-op.
func (s *Store) Put(ctx context.Context, mediaType string, data []byte) (Ref, error) {
	if int64(len(data)) > s.maxSize {
		return Ref{}, fmt.Errorf("blob: %d bytes exceeds the %d-byte limit", len(data), s.maxSize)
	}
	ref := Ref{Digest: Digest(data), MediaType: mediaType, Size: int64(len(data))}
	prev, err := s.info(ctx, key(ref.Digest))
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return Ref{}, fmt.Errorf("blob: put %s: %w", ref.Digest, err)
	}
	if prev != nil && !prev.Deleted && int64(prev.Size) == ref.Size {
		return ref, nil
	}
	if len(data) <= chunkSize {
		err = s.putSmall(ctx, key(ref.Digest), mediaType, data, prev)
	} else {
		_, err = s.os.Put(ctx, jetstream.ObjectMeta{
			Name:    key(ref.Digest),
			Headers: map[string][]string{"Content-Type": {mediaType}},
		}, bytes.NewReader(data))
	}
	if err != nil {
		return Ref{}, fmt.Errorf("blob: put %s: %w", ref.Digest, err)
	}
	return ref, nil
}

// Get returns the bytes stored under digest, verified against it.
func (s *Store) Get(ctx context.Context, digest string) ([]byte, error) {
	if !ValidDigest(digest) {
		return nil, fmt.Errorf("blob: %q is not a sha256:<hex> digest", digest)
	}
	if data, ok := s.getDirect(ctx, digest); ok {
		return data, nil
	}
	info, err := s.info(ctx, key(digest))
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return nil, fmt.Errorf("blob %s: %w", digest, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("blob: get %s: %w", digest, err)
	case info.Deleted:
		return nil, fmt.Errorf("blob %s: %w", digest, ErrNotFound)
	case info.Size > uint64(s.maxSize):
		return nil, fmt.Errorf("blob %s: %d bytes, larger than the %d-byte limit", digest, info.Size, s.maxSize)
	}
	var data []byte
	if info.Chunks <= 1 && (info.Opts == nil || info.Opts.Link == nil) {
		data, err = s.getSmall(ctx, info)
	} else {
		data, err = s.getChunked(ctx, digest)
	}
	if err != nil {
		return nil, err
	}
	if Digest(data) != digest {
		return nil, fmt.Errorf("blob %s: %w", digest, ErrCorrupt)
	}
	return data, nil
}

// getChunked reads an object of several chunks through the object store's own reader.
func (s *Store) getChunked(ctx context.Context, digest string) ([]byte, error) {
	r, err := s.os.Get(ctx, key(digest))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("blob %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", digest, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, s.maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("blob: read %s: %w", digest, err)
	}
	if int64(len(data)) > s.maxSize {
		return nil, fmt.Errorf("blob %s: larger than the %d-byte limit", digest, s.maxSize)
	}
	return data, nil
}

package blob

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Documents are mostly far smaller than one chunk (a DSSE envelope is a few KiB), and
// the object store's own reader follows each object with an ordered consumer that the
// server creates and deletes for every read. Here an object of one chunk is written
// with two publishes, its chunk under an id derived from its name, and read with one
// direct message get of that chunk (two, metadata first, for objects other clients
// wrote), in the object store's own layout (NATS ADR-20: chunks on
// $O.<bucket>.C.<nuid>, metadata rolled up on $O.<bucket>.M.<base64url(name)>), so that
// any object store client reads what this one writes and the other way round.

const (
	streamNameTmpl = "OBJ_%s"
	chunkSubjTmpl  = "$O.%s.C.%s"
	metaSubjTmpl   = "$O.%s.M.%s"
	// chunkSize is the object store's default chunk size; objects up to it are one chunk.
	chunkSize = 128 * 1024
	// maxMetaSize bounds the metadata record read back.
	maxMetaSize = 64 << 10
)

func (s *Store) metaSubject(name string) string {
	return fmt.Sprintf(metaSubjTmpl, s.bucket, base64.URLEncoding.EncodeToString([]byte(name)))
}

// info reads an object's metadata record (deleted ones included), or
// jetstream.ErrObjectNotFound.
func (s *Store) info(ctx context.Context, name string) (*jetstream.ObjectInfo, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, s.metaSubject(name))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, jetstream.ErrObjectNotFound
	}
	if err != nil {
		return nil, err
	}
	if len(m.Data) > maxMetaSize {
		return nil, fmt.Errorf("object %s: metadata of %d bytes: %w", name, len(m.Data), jetstream.ErrBadObjectMeta)
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return nil, fmt.Errorf("object %s: %w", name, jetstream.ErrBadObjectMeta)
	}
	if info.Name != name {
		return nil, fmt.Errorf("object %s: metadata names %q: %w", name, info.Name, jetstream.ErrBadObjectMeta)
	}
	return &info, nil
}

// getSmall reads the single chunk of an object (none when it is empty).
func (s *Store) getSmall(ctx context.Context, info *jetstream.ObjectInfo) ([]byte, error) {
	if info.Size == 0 {
		return []byte{}, nil
	}
	if info.NUID == "" {
		return nil, fmt.Errorf("blob: object %s: %w", info.Name, jetstream.ErrBadObjectMeta)
	}
	m, err := s.stream.GetLastMsgForSubject(ctx, fmt.Sprintf(chunkSubjTmpl, s.bucket, info.NUID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// Metadata without its chunk: an object cut short (or purged under us).
		return nil, fmt.Errorf("blob: object %s has no content: %w", info.Name, ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", info.Name, err)
	}
	if uint64(len(m.Data)) != info.Size {
		return nil, fmt.Errorf("blob: object %s: %d bytes stored, %d recorded: %w", info.Name, len(m.Data), info.Size, ErrCorrupt)
	}
	return m.Data, nil
}

// putSmall writes data (at most one chunk) as the object name: the chunk, then the
// metadata that makes it visible, both awaited; then, as the object store does, it
// purges the chunks of the object the name held before, if any.
func (s *Store) putSmall(ctx context.Context, name, mediaType string, data []byte, prev *jetstream.ObjectInfo) error {
	id := smallChunkID(name)
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{
			Name:    name,
			Headers: nats.Header{"Content-Type": {mediaType}},
			Opts:    &jetstream.ObjectMetaOptions{ChunkSize: chunkSize},
		},
		Bucket: s.bucket,
		NUID:   id,
		Size:   uint64(len(data)),
		Digest: objectDigest(data),
	}
	var chunk jetstream.PubAckFuture
	if len(data) > 0 {
		info.Chunks = 1
		m := nats.NewMsg(fmt.Sprintf(chunkSubjTmpl, s.bucket, id))
		m.Data = data
		var err error
		if chunk, err = s.js.PublishMsgAsync(m); err != nil {
			return fmt.Errorf("write chunk: %w", err)
		}
	}
	meta, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	mm := nats.NewMsg(s.metaSubject(name))
	mm.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	mm.Data = meta
	if chunk != nil {
		// The chunk must be stored before the metadata that points at it.
		select {
		case <-chunk.Ok():
		case err := <-chunk.Err():
			return fmt.Errorf("write chunk: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("write chunk: %w", ctx.Err())
		}
	}
	if _, err := s.js.PublishMsg(ctx, mm); err != nil {
		_ = s.stream.Purge(ctx, jetstream.WithPurgeSubject(fmt.Sprintf(chunkSubjTmpl, s.bucket, id)))
		return fmt.Errorf("write metadata: %w", err)
	}
	switch {
	case prev == nil || prev.NUID == "":
	case prev.NUID == id:
		// The same chunk subject: drop the older chunks, keep the one just written.
		_ = s.stream.Purge(ctx, jetstream.WithPurgeSubject(fmt.Sprintf(chunkSubjTmpl, s.bucket, id)), jetstream.WithPurgeKeep(1))
	case !prev.Deleted:
		_ = s.stream.Purge(ctx, jetstream.WithPurgeSubject(fmt.Sprintf(chunkSubjTmpl, s.bucket, prev.NUID)))
	}
	return nil
}

// smallChunkID is the chunk id (the object store's "nuid") this store gives an object
// of one chunk: the object's name, itself a subject token (sha256-<hex>), so that Get
// can read the chunk of a document directly, without reading its metadata first. The
// object store client reads the id from the metadata, whatever it is.
func smallChunkID(name string) string { return name }

// getDirect reads the chunk a small object written by this store has under its
// name: one direct get instead of two. It returns false whenever that does not yield
// exactly the bytes of digest (an object another client wrote, one of several chunks,
// one missing, damaged or over the limit), and Get then reads the metadata first and
// says what is wrong. A deleted object's chunk is purged when it is deleted.
func (s *Store) getDirect(ctx context.Context, digest string) ([]byte, bool) {
	m, err := s.stream.GetLastMsgForSubject(ctx, fmt.Sprintf(chunkSubjTmpl, s.bucket, smallChunkID(key(digest))))
	if err != nil || len(m.Data) == 0 || int64(len(m.Data)) > s.maxSize || Digest(m.Data) != digest {
		return nil, false
	}
	return m.Data, true
}

// objectDigest is the object store's digest header value: SHA-256=<base64url>.
func objectDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:])
}

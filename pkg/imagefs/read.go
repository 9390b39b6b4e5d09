package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Read reads every layer of img once and returns the index of its files. The caller must
// Close the FS to remove its content spool.
func Read(ctx context.Context, img v1.Image, opts ...Option) (*FS, error) {
	o := defaults()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if img == nil {
		return nil, fmt.Errorf("imagefs: nil image: %w", ErrInvalidImage)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("imagefs: list layers: %w: %w", ErrFetch, err)
	}
	if len(layers) > o.maxLayers {
		return nil, limitErr("layer count", int64(o.maxLayers), "WithMaxLayers", "imagefs: image has %d layers", len(layers))
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("imagefs: read config: %w: %w", ErrFetch, err)
	}
	var diffIDs []v1.Hash
	if cfg != nil && o.verifyDiffIDs {
		diffIDs = cfg.RootFS.DiffIDs
		if len(diffIDs) != 0 && len(diffIDs) != len(layers) {
			return nil, fmt.Errorf("imagefs: config lists %d diff_ids for %d layers: %w", len(diffIDs), len(layers), ErrInvalidImage)
		}
	}

	fsys := &FS{root: &node{}, layers: make([]LayerInfo, len(layers))}
	if o.keep != nil {
		fsys.spool, err = os.CreateTemp(o.tempDir, "imagefs-spool-*")
		if err != nil {
			return nil, fmt.Errorf("imagefs: create content spool: %w", err)
		}
	}
	r := &reader{o: o, spool: fsys.spool}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	for i, l := range layers {
		var want v1.Hash
		if len(diffIDs) > 0 {
			want = diffIDs[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = context.Cause(ctx)
				return
			}
			defer func() { <-sem }()
			if err := r.readLayer(ctx, i, l, want, &fsys.layers[i]); err != nil {
				errs[i] = err
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := firstError(ctx, errs); err != nil {
		_ = fsys.Close()
		return nil, err
	}
	for i := range fsys.layers {
		fsys.squash(&fsys.layers[i], r.whiteouts[i])
		li := &fsys.layers[i]
		fsys.stats.CompressedBytes += li.CompressedSize
		fsys.stats.UncompressedBytes += li.UncompressedSize
		fsys.stats.Entries += len(li.Entries)
	}
	fsys.stats.KeptFiles = int(r.keptFiles.Load())
	fsys.stats.KeptBytes = r.spoolEnd.Load()
	return fsys, nil
}

// firstError prefers the error of a layer that failed by itself over the cancellations
// it caused in the others.
func firstError(ctx context.Context, errs []error) error {
	var canceled error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			if canceled == nil {
				canceled = err
			}
			continue
		}
		return err
	}
	if canceled != nil {
		return fmt.Errorf("imagefs: %w", canceled)
	}
	return ctx.Err()
}

// reader holds what the concurrent layer reads share.
type reader struct {
	o         options
	spool     *os.File
	spoolEnd  atomic.Int64
	keptFiles atomic.Int64
	total     atomic.Int64 // uncompressed bytes of all layers
	entries   atomic.Int64 // entries of all layers

	mu        sync.Mutex
	whiteouts map[int][]whiteout
}

// whiteout is a deletion a layer makes in the layers below it.
type whiteout struct {
	path   string // the deleted path, or the opaque directory
	opaque bool
}

// sourceReader reads a layer's compressed blob, hashing and counting it, and marks its
// errors as the source's.
type sourceReader struct {
	r    io.Reader
	h    hash.Hash // nil when the blob's digest is left to the diff ID check
	n    int64
	size int64 // the descriptor's size, or -1
	want v1.Hash
}

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		if s.h != nil {
			s.h.Write(p[:n])
		}
		s.n += int64(n)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, &sourceError{err}
	}
	return n, err
}

// mismatch reports whether the bytes read so far are the whole blob and do not hash to
// its digest: the source's own verification error then means corrupt data, not a
// failed fetch.
func (s *sourceReader) digestMismatch() (string, bool) {
	if s.h == nil || s.want.Algorithm != "sha256" {
		return "", false
	}
	got := hex.EncodeToString(s.h.Sum(nil))
	return "sha256:" + got, got != s.want.Hex
}

// capReader counts a layer's uncompressed stream and stops it at the caps. h, which the
// consumer of the stream feeds, hashes it when diff IDs are verified.
type capReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	name  string
	o     *options
	total *atomic.Int64
	ctx   context.Context
}

func (c *capReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.n > c.o.maxLayerSize {
			return 0, limitErr("uncompressed layer size", c.o.maxLayerSize, "WithMaxLayerSize", "imagefs: %s", c.name)
		}
		if t := c.total.Add(int64(n)); t > c.o.maxImageSize {
			return 0, limitErr("uncompressed image size", c.o.maxImageSize, "WithMaxImageSize", "imagefs: image (at %s)", c.name)
		}
	}
	return n, err
}

// isVerifyError reports whether err is go-containerregistry's digest verification
// failure (internal/verify.Error, which callers cannot name), which its remote layers
// return at the end of a blob that does not hash to its digest.
func isVerifyError(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		t := reflect.TypeOf(err)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Name() == "Error" && t.PkgPath() == "github.com/google/go-containerregistry/internal/verify" {
			return true
		}
	}
	return false
}

// drainOnEOF reads r, and at its end reads rest to its end.
type drainOnEOF struct {
	r, rest io.Reader
}

func (d *drainOnEOF) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if errors.Is(err, io.EOF) {
		if _, derr := io.Copy(io.Discard, d.rest); derr != nil {
			return n, derr
		}
	}
	return n, err
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// readLayer reads layer i's blob once and records its entries in li.
func (r *reader) readLayer(ctx context.Context, i int, l v1.Layer, wantDiff v1.Hash, li *LayerInfo) (err error) {
	li.Index = i
	name := fmt.Sprintf("layer %d", i)
	dgst, err := l.Digest()
	if err != nil {
		return fmt.Errorf("imagefs: %s: digest: %w: %w", name, ErrFetch, err)
	}
	li.Digest = dgst.String()
	name = fmt.Sprintf("layer %d (%s)", i, dgst)
	if wantDiff.Hex != "" {
		li.DiffID = wantDiff.String()
	} else if d, err := l.DiffID(); err == nil {
		li.DiffID = d.String()
	}
	if mt, err := l.MediaType(); err == nil {
		li.MediaType = string(mt)
	}
	size, err := l.Size()
	if err != nil {
		size = -1
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("imagefs: %s: open blob: %w: %w", name, ErrFetch, err)
	}
	defer rc.Close()
	// The blob is hashed here only when its tar is not checked against a diff ID. When it
	// is, the config (which the manifest digest pins) commits to the uncompressed bytes
	// that are scanned, so a second hash adds nothing but cost; a blob read from a
	// registry is verified against its digest by go-containerregistry anyway.
	src := &sourceReader{r: rc, size: size, want: dgst}
	if wantDiff.Hex == "" {
		src.h = sha256.New()
	}
	defer func() {
		if err == nil {
			return
		}
		var se *sourceError
		if errors.As(err, &se) {
			if got, bad := src.digestMismatch(); bad && src.n == src.size {
				err = fmt.Errorf("imagefs: %s: blob hashes to %s, not its digest: %w", name, got, ErrInvalidImage)
				return
			}
			if isVerifyError(se.err) {
				err = fmt.Errorf("imagefs: %s: blob does not match its digest: %w: %w", name, ErrInvalidImage, se.err)
				return
			}
			err = fmt.Errorf("imagefs: %s: read blob: %w: %w", name, ErrFetch, se.err)
			return
		}
		if errors.Is(err, ErrLimitExceeded) || errors.Is(err, ErrInvalidImage) || ctx.Err() != nil {
			return
		}
		err = fmt.Errorf("imagefs: %s: %w: %w", name, ErrInvalidImage, err)
	}()

	br := bufio.NewReaderSize(src, 64<<10)
	magic, _ := br.Peek(4)
	var un io.Reader
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		un = zr
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxDecoderMemory))
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		un = zr
	default:
		un = br
	}
	cr := &capReader{r: un, name: name, o: &r.o, total: &r.total, ctx: ctx}
	if wantDiff.Hex != "" {
		cr.h = sha256.New()
	}
	// At the tar stream's end, the blob is read to its end too (trailing padding), so
	// that every byte is hashed and the source's own verification runs.
	var stream io.Reader = &drainOnEOF{r: cr, rest: io.LimitReader(br, r.o.maxLayerSize)}
	// With a second core, decompression runs ahead on its own goroutine; with one, the
	// hand-over would only add a copy.
	var ra *readAhead
	if runtime.GOMAXPROCS(0) > 1 {
		ra = newReadAhead(stream, func() { _ = rc.Close() })
		defer ra.Close()
		stream = ra
	}
	// The diff ID is hashed on this side, in parallel with decompression.
	if cr.h != nil {
		stream = io.TeeReader(stream, cr.h)
	}
	if err := r.walk(ctx, i, li, stream); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return err
	}
	if ra != nil {
		ra.Close()
	}
	li.CompressedSize, li.UncompressedSize = src.n, cr.n
	if size >= 0 && src.n != size {
		return fmt.Errorf("blob is %d bytes, its descriptor says %d", src.n, size)
	}
	if got, bad := src.digestMismatch(); bad {
		return fmt.Errorf("imagefs: %s: blob hashes to %s, not its digest: %w", name, got, ErrInvalidImage)
	}
	if cr.h != nil {
		if got := hex.EncodeToString(cr.h.Sum(nil)); got != wantDiff.Hex {
			return fmt.Errorf("imagefs: %s: uncompressed tar hashes to sha256:%s, not its diff_id %s: %w", name, got, wantDiff, ErrInvalidImage)
		}
	}
	return nil
}

// walk reads the layer's tar stream, recording entries and whiteouts, spooling kept files
// and passing every regular file to the observer.
func (r *reader) walk(ctx context.Context, i int, li *LayerInfo, un io.Reader) error {
	tr := tar.NewReader(un)
	buf := make([]byte, copyBufferSize)
	var wh []whiteout
	defer func() {
		r.mu.Lock()
		if r.whiteouts == nil {
			r.whiteouts = map[int][]whiteout{}
		}
		r.whiteouts[i] = wh
		r.mu.Unlock()
	}()
	entries := 0
	var contentTotal int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("imagefs: layer %d (%s): tar: %w", i, li.Digest, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		entries++
		if entries > r.o.maxEntries {
			return limitErr("entries per layer", int64(r.o.maxEntries), "WithMaxEntries", "imagefs: layer %d (%s)", i, li.Digest)
		}
		if r.entries.Add(1) > int64(r.o.maxImageEntries) {
			return limitErr("entries per image", int64(r.o.maxImageEntries), "WithMaxImageEntries", "imagefs: image (at layer %d, %s)", i, li.Digest)
		}
		if len(hdr.Name) > r.o.maxPathLength || len(hdr.Linkname) > r.o.maxPathLength {
			return limitErr("path length", int64(r.o.maxPathLength), "WithMaxPathLength", "imagefs: layer %d (%s): entry %.64q...", i, li.Digest, hdr.Name)
		}
		p, err := cleanName(hdr.Name)
		if err != nil {
			return fmt.Errorf("imagefs: layer %d (%s): entry %q: %w: %w", i, li.Digest, hdr.Name, ErrInvalidImage, err)
		}
		dir, base := dirBase(p)
		if strings.HasPrefix(base, ".wh.") {
			if base == ".wh..wh..opq" {
				wh = append(wh, whiteout{path: dir, opaque: true})
			} else if target := strings.TrimPrefix(base, ".wh."); target != "" && target != "." && target != ".." {
				wh = append(wh, whiteout{path: strings.TrimSuffix(dir, "/") + "/" + target})
			}
			continue
		}
		if p == "/" {
			continue
		}
		e := &Entry{Path: p, Mode: hdr.FileInfo().Mode(), Size: hdr.Size, UID: hdr.Uid, GID: hdr.Gid, ModTime: hdr.ModTime, Layer: i}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse: // archive/tar reports the old TypeRegA as TypeReg
			e.Type = TypeFile
		case tar.TypeDir:
			e.Type, e.Size = TypeDir, 0
		case tar.TypeSymlink:
			e.Type, e.Linkname, e.Size = TypeSymlink, hdr.Linkname, 0
		case tar.TypeLink:
			target, err := cleanName(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("imagefs: layer %d (%s): hard link %q: %w: %w", i, li.Digest, hdr.Name, ErrInvalidImage, err)
			}
			e.Type, e.Linkname, e.Size = TypeHardLink, target, 0
		case tar.TypeChar:
			e.Type = TypeCharDevice
		case tar.TypeBlock:
			e.Type = TypeBlockDevice
		case tar.TypeFifo:
			e.Type = TypeFIFO
		default:
			continue // PAX/GNU metadata entries are consumed by archive/tar; skip the rest
		}
		if e.Type == TypeFile {
			if hdr.Size < 0 {
				return fmt.Errorf("imagefs: layer %d (%s): entry %q has negative size: %w", i, li.Digest, hdr.Name, ErrInvalidImage)
			}
			if hdr.Size > r.o.maxFileSize {
				return limitErr("file size", r.o.maxFileSize, "WithMaxFileSize", "imagefs: layer %d (%s): %s is %d bytes", i, li.Digest, p, hdr.Size)
			}
			// Sparse files expand beyond the bytes the archive holds; count their
			// logical sizes against the layer cap too.
			contentTotal += hdr.Size
			if contentTotal > r.o.maxLayerSize {
				return limitErr("uncompressed layer size", r.o.maxLayerSize, "WithMaxLayerSize", "imagefs: layer %d (%s): file contents", i, li.Digest)
			}
			li.ContentSize += hdr.Size
			if err := r.content(i, li, e, tr, buf); err != nil {
				return err
			}
		} else {
			e.Size = 0
		}
		li.Entries = append(li.Entries, e)
	}
}

// content reads a regular file's bytes once, feeding the observer and the spool.
func (r *reader) content(i int, li *LayerInfo, e *Entry, tr *tar.Reader, buf []byte) error {
	var w io.WriteCloser
	if r.o.observer != nil {
		w = r.o.observer.ObserveFile(li.Layer, e.Path, e.Size)
	}
	if e.Size == 0 {
		if w != nil {
			return w.Close()
		}
		return nil
	}
	if w == nil && r.o.keep == nil {
		return nil // tar.Reader skips the body
	}
	first := buf[:min(int64(len(buf)), e.Size)]
	n, err := io.ReadFull(tr, first)
	if err != nil {
		closeQuiet(w)
		return fmt.Errorf("imagefs: layer %d (%s): read %s: %w", i, li.Digest, e.Path, err)
	}
	head := first[:min(n, HeadSize)]
	if isExecutableMagic(head) {
		e.MIME = detectMIME(head)
	}
	var off int64 = -1
	if r.o.keep != nil && r.o.keep(e.Path, e.Size, head) {
		off = r.spoolEnd.Add(e.Size) - e.Size
	}
	if off < 0 && w == nil {
		return nil // archive/tar skips the rest of the body
	}
	chunk := first[:n]
	pos := off
	for {
		if w != nil {
			if _, err := w.Write(chunk); err != nil {
				closeQuiet(w)
				return fmt.Errorf("imagefs: layer %d (%s): observer of %s: %w", i, li.Digest, e.Path, err)
			}
		}
		if off >= 0 {
			if _, err := r.spool.WriteAt(chunk, pos); err != nil {
				closeQuiet(w)
				return fmt.Errorf("imagefs: spool %s: %w", e.Path, err)
			}
			pos += int64(len(chunk))
		}
		m, err := tr.Read(buf)
		chunk = buf[:m]
		if errors.Is(err, io.EOF) {
			if m == 0 {
				break
			}
			continue
		}
		if err != nil {
			closeQuiet(w)
			return fmt.Errorf("imagefs: layer %d (%s): read %s: %w", i, li.Digest, e.Path, err)
		}
	}
	if off >= 0 {
		if pos-off != e.Size {
			closeQuiet(w)
			return fmt.Errorf("imagefs: layer %d (%s): %s is shorter than its header says: %w", i, li.Digest, e.Path, io.ErrUnexpectedEOF)
		}
		e.kept, e.offset = true, off
		r.keptFiles.Add(1)
	}
	if w != nil {
		if err := w.Close(); err != nil {
			return fmt.Errorf("imagefs: layer %d (%s): observer of %s: %w", i, li.Digest, e.Path, err)
		}
	}
	return nil
}

func closeQuiet(w io.Closer) {
	if w != nil {
		_ = w.Close()
	}
}

// squash applies layer li over the squashed view: first its whiteouts (which delete from
// the layers below only), then its entries in tar order.
func (f *FS) squash(li *LayerInfo, wh []whiteout) {
	for _, w := range wh {
		comps := splitPath(w.path)
		if w.opaque {
			if n := f.root.lookupNode(w.path); n != nil {
				n.children = nil
			}
			continue
		}
		f.root.remove(comps)
	}
	for _, e := range li.Entries {
		n := f.root.ensure(splitPath(e.Path))
		if e.Type == TypeHardLink {
			if t, ok := f.Lookup(e.Linkname); ok && t.Layer >= 0 {
				if t.Type == TypeHardLink {
					t = t.hard
				}
				e.hard = t
				if t != nil {
					e.MIME = t.MIME // as stereoscope adopts a hard link's target's metadata
				}
			}
		}
		if e.Type != TypeDir {
			n.children = nil
		}
		n.entry = e
		if e.Mode&fs.ModeType == 0 && e.Type == TypeDir {
			e.Mode |= fs.ModeDir
		}
	}
}

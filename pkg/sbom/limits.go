package sbom

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// limits are the bounds Scan puts on an untrusted image.
type limits struct {
	maxLayers    int
	maxLayerSize int64
	maxImageSize int64
	maxEntries   int
}

// boundedImage is img with every layer's uncompressed stream bounded by lim. The total
// counts bytes across all layers, read concurrently.
type boundedImage struct {
	v1.Image
	lim   limits
	total *atomic.Int64
}

func newBoundedImage(img v1.Image, lim limits) *boundedImage {
	return &boundedImage{Image: img, lim: lim, total: new(atomic.Int64)}
}

// Layers returns the image's layers, refusing more than the limit.
func (b *boundedImage) Layers() ([]v1.Layer, error) {
	ls, err := b.Image.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w: %w", ErrFetch, err)
	}
	if len(ls) > b.lim.maxLayers {
		return nil, fmt.Errorf("image has %d layers, more than the limit of %d: %w", len(ls), b.lim.maxLayers, ErrLimitExceeded)
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &boundedLayer{Layer: l, index: i, img: b}
	}
	return out, nil
}

// LayerByDigest wraps the image's layer lookup so that no path reaches an unbounded layer.
func (b *boundedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := b.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return &boundedLayer{Layer: l, index: -1, img: b}, nil
}

// LayerByDiffID wraps the image's layer lookup so that no path reaches an unbounded layer.
func (b *boundedImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := b.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return &boundedLayer{Layer: l, index: -1, img: b}, nil
}

type boundedLayer struct {
	v1.Layer
	index int
	img   *boundedImage
}

func (l *boundedLayer) name() string {
	d, err := l.Layer.Digest()
	if err != nil {
		return fmt.Sprintf("layer %d", l.index)
	}
	if l.index < 0 {
		return "layer " + d.String()
	}
	return fmt.Sprintf("layer %d (%s)", l.index, d)
}

// Uncompressed returns the layer's tar stream, failing the read once the layer or the image
// grows past its size limit or the tar holds more entries than allowed.
func (l *boundedLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Uncompressed()
	if err != nil {
		return nil, fmt.Errorf("%s: open uncompressed stream: %w: %w", l.name(), ErrFetch, err)
	}
	return newBoundedReader(rc, l.name(), l.img.lim, l.img.total), nil
}

// boundedReader passes a layer's tar stream through while counting its bytes and, in a
// second goroutine fed by a pipe, its tar entries.
type boundedReader struct {
	rc    io.ReadCloser
	name  string
	lim   limits
	total *atomic.Int64
	n     int64

	pw       *io.PipeWriter
	pr       *io.PipeReader
	done     chan struct{}
	countErr error // set by the counting goroutine before done is closed

	closeOnce sync.Once
	finished  bool
}

func newBoundedReader(rc io.ReadCloser, name string, lim limits, total *atomic.Int64) *boundedReader {
	pr, pw := io.Pipe()
	r := &boundedReader{rc: rc, name: name, lim: lim, total: total, pw: pw, pr: pr, done: make(chan struct{})}
	go r.countEntries()
	return r
}

// countEntries reads tar headers from the pipe. A malformed tar is left for the reader of
// the stream to report; only the entry limit is enforced here.
func (r *boundedReader) countEntries() {
	defer close(r.done)
	tr := tar.NewReader(r.pr)
	entries := 0
	for {
		_, err := tr.Next()
		if err != nil {
			break
		}
		entries++
		if entries > r.lim.maxEntries {
			r.countErr = fmt.Errorf("%s has more than %d tar entries: %w", r.name, r.lim.maxEntries, ErrLimitExceeded)
			r.pr.CloseWithError(r.countErr)
			return
		}
	}
	// Drain trailing padding so that writes to the pipe never block.
	_, _ = io.Copy(io.Discard, r.pr)
}

func (r *boundedReader) Read(p []byte) (int, error) {
	if r.finished {
		return 0, io.EOF
	}
	n, err := r.rc.Read(p)
	if n > 0 {
		r.n += int64(n)
		if r.n > r.lim.maxLayerSize {
			return 0, fmt.Errorf("%s is larger than the %d-byte uncompressed layer limit: %w", r.name, r.lim.maxLayerSize, ErrLimitExceeded)
		}
		if t := r.total.Add(int64(n)); t > r.lim.maxImageSize {
			return 0, fmt.Errorf("image is larger than the %d-byte uncompressed limit (at %s): %w", r.lim.maxImageSize, r.name, ErrLimitExceeded)
		}
		if _, werr := r.pw.Write(p[:n]); werr != nil {
			<-r.done
			if r.countErr != nil {
				return 0, r.countErr
			}
			return 0, fmt.Errorf("%s: %w", r.name, werr)
		}
	}
	if errors.Is(err, io.EOF) {
		_ = r.pw.Close()
		<-r.done
		if r.countErr != nil {
			return 0, r.countErr
		}
		r.finished = true
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("read %s: %w: %w", r.name, ErrFetch, err)
	}
	return n, nil
}

func (r *boundedReader) Close() error {
	var err error
	r.closeOnce.Do(func() {
		_ = r.pw.CloseWithError(errors.New("layer stream closed"))
		_ = r.pr.Close()
		<-r.done
		err = r.rc.Close()
	})
	return err
}

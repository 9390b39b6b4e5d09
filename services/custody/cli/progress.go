package cli

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// progressMeter shows how much of an image's layers a scan has read, on one line of a
// terminal. A nil meter measures nothing and its methods return their argument.
type progressMeter struct {
	w        io.Writer
	read     atomic.Int64
	total    atomic.Int64
	layers   atomic.Int64
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func newProgressMeter(w io.Writer) *progressMeter {
	m := &progressMeter{w: w, done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				fmt.Fprint(m.w, "\r\033[K")
				return
			case <-tick.C:
				fmt.Fprintf(m.w, "\r\033[Kscanning: %s of %s read, %d layers", mib(m.read.Load()), mib(m.total.Load()), m.layers.Load())
			}
		}
	}()
	return m
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// stop clears the line; it is safe to call twice and on nil.
func (m *progressMeter) stop() {
	if m == nil {
		return
	}
	m.stopOnce.Do(func() { close(m.done) })
	m.wg.Wait()
}

func (m *progressMeter) image(img v1.Image) v1.Image {
	if m == nil {
		return img
	}
	if mf, err := img.Manifest(); err == nil {
		for _, l := range mf.Layers {
			m.total.Add(l.Size)
		}
		m.layers.Add(int64(len(mf.Layers)))
	}
	return meteredImage{Image: img, m: m}
}

func (m *progressMeter) index(idx v1.ImageIndex) v1.ImageIndex {
	if m == nil {
		return idx
	}
	return meteredIndex{indexOf: indexOf{idx}, m: m}
}

// indexOf forwards v1.ImageIndex to an index (embedding one cannot: the interface has
// a method named ImageIndex).
type indexOf struct{ idx v1.ImageIndex }

func (i indexOf) MediaType() (types.MediaType, error)         { return i.idx.MediaType() }
func (i indexOf) Digest() (v1.Hash, error)                    { return i.idx.Digest() }
func (i indexOf) Size() (int64, error)                        { return i.idx.Size() }
func (i indexOf) IndexManifest() (*v1.IndexManifest, error)   { return i.idx.IndexManifest() }
func (i indexOf) RawManifest() ([]byte, error)                { return i.idx.RawManifest() }
func (i indexOf) Image(h v1.Hash) (v1.Image, error)           { return i.idx.Image(h) }
func (i indexOf) ImageIndex(h v1.Hash) (v1.ImageIndex, error) { return i.idx.ImageIndex(h) }

type meteredIndex struct {
	indexOf
	m *progressMeter
}

func (i meteredIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := i.idx.Image(h)
	if err != nil {
		return nil, err
	}
	return i.m.image(img), nil
}

type meteredImage struct {
	v1.Image
	m *progressMeter
}

func (i meteredImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = meteredLayer{Layer: l, m: i.m}
	}
	return out, nil
}

func (i meteredImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return meteredLayer{Layer: l, m: i.m}, nil
}

func (i meteredImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return meteredLayer{Layer: l, m: i.m}, nil
}

type meteredLayer struct {
	v1.Layer
	m *progressMeter
}

// Compressed counts the bytes read, which is what the layer's size in the manifest
// measures. (Uncompressed reads are not counted: they would overshoot the total.)
func (l meteredLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, n: &l.m.read}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

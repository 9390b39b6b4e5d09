package imagefs_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ent is one tar entry of a test layer.
type ent struct {
	name string
	body string
	typ  byte
	link string
}

func reg(name, body string) ent        { return ent{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) ent              { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, target string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: target} }
func hardlink(name, target string) ent { return ent{name: name, typ: tar.TypeLink, link: target} }

func writeTar(t testing.TB, w io.Writer, entries ...ent) {
	t.Helper()
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typ, Linkname: e.link, Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func tarOf(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	writeTar(t, &b, entries...)
	return b.Bytes()
}

func gzipOf(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdOf(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// blobLayer is a layer whose blob is given as bytes (compressed or not), with the diff ID
// of its uncompressed tar. served, when set, replaces the bytes Compressed returns (a
// tampered blob), and opened counts calls to Compressed.
type blobLayer struct {
	blob   []byte
	diffID v1.Hash
	mt     types.MediaType
	served []byte
	opened *int
}

func newBlobLayer(blob, uncompressed []byte) *blobLayer {
	return &blobLayer{blob: blob, diffID: sha(uncompressed), mt: types.OCILayer}
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return sha(l.blob), nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)                { return int64(len(l.blob)), nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	if l.opened != nil {
		*l.opened++
	}
	b := l.blob
	if l.served != nil {
		b = l.served
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	panic("imagefs must read the compressed stream")
}

// gzLayer is a gzip layer of entries.
func gzLayer(t testing.TB, entries ...ent) v1.Layer {
	t.Helper()
	raw := tarOf(t, entries...)
	return newBlobLayer(gzipOf(t, raw), raw)
}

func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func imageOfEntries(t testing.TB, layers ...[]ent) v1.Image {
	t.Helper()
	var ls []v1.Layer
	for _, es := range layers {
		ls = append(ls, gzLayer(t, es...))
	}
	return imageOf(t, ls...)
}

// manyLayers is img claiming to have n layers, none of which may be read.
type manyLayers struct {
	v1.Image
	n      int
	opened *int
}

func (m manyLayers) Layers() ([]v1.Layer, error) {
	out := make([]v1.Layer, m.n)
	for i := range out {
		out[i] = &blobLayer{blob: []byte{}, opened: m.opened, mt: types.OCILayer}
	}
	return out, nil
}

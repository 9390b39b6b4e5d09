package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/custody-dev/custody/pkg/imagefs"
)

func keepAll(string, int64, []byte) bool { return true }

func read(t *testing.T, img v1.Image, opts ...imagefs.Option) (*imagefs.FS, error) {
	t.Helper()
	fsys, err := imagefs.Read(context.Background(), img, append([]imagefs.Option{imagefs.WithTempDir(t.TempDir()), imagefs.WithKeep(keepAll)}, opts...)...)
	if err == nil {
		t.Cleanup(func() { _ = fsys.Close() })
	}
	return fsys, err
}

func content(t *testing.T, fsys *imagefs.FS, p string) string {
	t.Helper()
	e, ok := fsys.Resolve(p)
	if !ok {
		t.Fatalf("%s does not resolve", p)
	}
	rc, err := fsys.Open(e)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A squashed view built from tar layers, with the hostile names an image may hold.
func TestReadResolvesInsideTheImage(t *testing.T) {
	img := imageOfEntries(t,
		[]ent{
			dir("etc/"), reg("etc/passwd", "image passwd"), reg("/ko-app/x", "absolute name"),
			reg("./usr/./lib/../lib/libc.so", "libc"), symlink("lib", "usr/lib"),
			reg("host/secret", "image's own host/secret"),
			symlink("etc/x", "../../../../host/secret"),
			symlink("etc/abs", "/etc/passwd"),
			symlink("loop/a", "b"), symlink("loop/b", "a"),
			symlink("dangling", "/nowhere"), symlink("empty", ""),
			reg("var/lib/dpkg/status", "lower status"),
			reg("opaque/old", "old"), reg("opaque/keep/x", "x"),
			reg("deleted", "gone"), dir("deldir/"), reg("deldir/f", "f"),
		},
		[]ent{
			hardlink("bin/passwd-link", "etc/passwd"),
			reg("new", "new file"), hardlink("new-link", "/new"),
			hardlink("bad-hard", "nowhere"),
			reg(".wh.deleted", ""), reg("deldir/.wh..wh..opq", ""), reg("opaque/.wh..wh..opq", ""), reg("opaque/fresh", "fresh"),
		},
	)
	fsys, err := read(t, img)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/etc/passwd", "image passwd"},
		{"/ko-app/x", "absolute name"},
		{"/usr/lib/libc.so", "libc"},
		{"/lib/libc.so", "libc"},
		{"/etc/x", "image's own host/secret"},
		{"etc/abs", "image passwd"},
		{"/bin/passwd-link", "image passwd"},
		{"/new-link", "new file"},
		{"/opaque/fresh", "fresh"},
	} {
		if got := content(t, fsys, tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
	for _, p := range []string{"/loop/a", "/dangling", "/empty", "/deleted", "/opaque/old", "/opaque/keep/x", "/deldir/f", "/bad-hard"} {
		if e, ok := fsys.Resolve(p); ok {
			t.Errorf("%s resolves to %+v, want nothing", p, e)
		}
	}
	if e, ok := fsys.Lookup("/loop/a"); !ok || e.Type != imagefs.TypeSymlink || e.Linkname != "b" {
		t.Errorf("Lookup(/loop/a) = %+v, %v; want the symlink itself", e, ok)
	}
	if e, ok := fsys.Lookup("/deldir"); !ok || e.Type != imagefs.TypeDir {
		t.Errorf("an opaque marker must leave its directory: %+v %v", e, ok)
	}
	got, err := fsys.Glob("**/passwd")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range got {
		paths = append(paths, e.Path)
	}
	if diff := cmp.Diff([]string{"/etc/passwd"}, paths); diff != "" {
		t.Errorf("Glob(**/passwd) (-want +got):\n%s", diff)
	}
	if got, _ := fsys.Glob("/var/lib/dpkg/{status,status.d/*}"); len(got) != 1 {
		t.Errorf("Glob with alternatives found %d entries", len(got))
	}
	ls := fsys.Layers()
	if len(ls) != 2 || ls[1].DiffID == "" || ls[0].Digest == ls[0].DiffID {
		t.Errorf("layers = %+v", ls)
	}
	st := fsys.Stats()
	if st.Entries == 0 || st.KeptFiles == 0 || st.CompressedBytes == 0 || st.UncompressedBytes <= st.CompressedBytes/2 {
		t.Errorf("stats = %+v", st)
	}
}

// A gzip stream of n zero bytes after a valid empty tar, written as it is compressed.
func zeroBomb(t *testing.T, n int64, compress func(io.Writer) io.WriteCloser) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := compress(&b)
	writeTar(t, zw, reg("a", "a"))
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(zeros)) {
		if _, err := zw.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipWriter(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }
func zstdWriter(w io.Writer) io.WriteCloser {
	zw, _ := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
	return zw
}

// hugeFileTar is a tar header announcing a file of size bytes, with no body.
func hugeFileTar(size int64) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	_ = tw.WriteHeader(&tar.Header{Name: "huge", Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
	return b.Bytes()
}

func TestReadHostileImages(t *testing.T) {
	valid := tarOf(t, reg("etc/os-release", "ID=test\n"), reg("var/lib/dpkg/status", "Package: a\n"))
	tampered := newBlobLayer(gzipOf(t, valid), valid)
	tampered.served = bytes.Clone(tampered.blob)
	tampered.served[len(tampered.served)/2] ^= 0xff
	wrongDiff := newBlobLayer(gzipOf(t, valid), []byte("something else"))
	// Same tar, blob re-encoded (gzip header time changed): only the digest differs.
	reencoded := newBlobLayer(gzipOf(t, valid), valid)
	reencoded.served = bytes.Clone(reencoded.blob)
	reencoded.served[4] ^= 0x01
	many := make([]ent, 100)
	for i := range many {
		many[i] = reg("f/"+strings.Repeat("x", i+1), "")
	}
	for _, tc := range []struct {
		name string
		img  func(t *testing.T) v1.Image
		opts []imagefs.Option
		want error
		msg  string // a part of the message naming what is wrong
	}{
		{"dot-dot traversal", func(t *testing.T) v1.Image {
			return imageOfEntries(t, []ent{reg("a/../../etc/passwd", "x")})
		}, nil, imagefs.ErrInvalidImage, `"a/../../etc/passwd"`},
		{"hard link to a traversal name", func(t *testing.T) v1.Image {
			return imageOfEntries(t, []ent{reg("a", "x"), hardlink("b", "../../etc/shadow")})
		}, nil, imagefs.ErrInvalidImage, "hard link"},
		{"gzip bomb", func(t *testing.T) v1.Image {
			bomb := zeroBomb(t, 256<<20, gzipWriter)
			return imageOf(t, newBlobLayer(bomb, nil))
		}, []imagefs.Option{imagefs.WithMaxLayerSize(4 << 20)}, imagefs.ErrLimitExceeded, "WithMaxLayerSize"},
		{"zstd bomb", func(t *testing.T) v1.Image {
			bomb := zeroBomb(t, 256<<20, zstdWriter)
			return imageOf(t, newBlobLayer(bomb, nil))
		}, []imagefs.Option{imagefs.WithMaxLayerSize(4 << 20)}, imagefs.ErrLimitExceeded, "WithMaxLayerSize"},
		{"image size over layers", func(t *testing.T) v1.Image {
			return imageOf(t, gzLayer(t, reg("a", strings.Repeat("a", 3000))), gzLayer(t, reg("b", strings.Repeat("b", 3000))))
		}, []imagefs.Option{imagefs.WithMaxImageSize(6000), imagefs.WithConcurrency(1)}, imagefs.ErrLimitExceeded, "WithMaxImageSize"},
		{"huge file", func(t *testing.T) v1.Image {
			raw := hugeFileTar(8 << 30)
			return imageOf(t, newBlobLayer(gzipOf(t, raw), raw))
		}, nil, imagefs.ErrLimitExceeded, "WithMaxFileSize"},
		{"file over a small file cap", func(t *testing.T) v1.Image {
			return imageOfEntries(t, []ent{reg("big", strings.Repeat("x", 5000))})
		}, []imagefs.Option{imagefs.WithMaxFileSize(4096)}, imagefs.ErrLimitExceeded, "WithMaxFileSize"},
		{"tampered blob", func(t *testing.T) v1.Image { return imageOf(t, tampered) }, nil, imagefs.ErrInvalidImage, ""},
		{"blob not matching its digest, config without diff_ids", func(t *testing.T) v1.Image {
			img, err := mutate.ConfigFile(imageOf(t, reencoded), &v1.ConfigFile{})
			if err != nil {
				t.Fatal(err)
			}
			return img
		}, nil, imagefs.ErrInvalidImage, "not its digest"},
		{"diff id mismatch", func(t *testing.T) v1.Image { return imageOf(t, wrongDiff) }, nil, imagefs.ErrInvalidImage, "diff_id"},
		{"too many entries", func(t *testing.T) v1.Image { return imageOfEntries(t, many) },
			[]imagefs.Option{imagefs.WithMaxEntries(10)}, imagefs.ErrLimitExceeded, "WithMaxEntries"},
		{"too many entries in the image", func(t *testing.T) v1.Image { return imageOfEntries(t, many[:60], many[60:]) },
			[]imagefs.Option{imagefs.WithMaxImageEntries(80)}, imagefs.ErrLimitExceeded, "WithMaxImageEntries"},
		{"long path", func(t *testing.T) v1.Image { return imageOfEntries(t, []ent{reg(strings.Repeat("d/", 300)+"f", "")}) },
			[]imagefs.Option{imagefs.WithMaxPathLength(256)}, imagefs.ErrLimitExceeded, "WithMaxPathLength"},
		{"not a tar", func(t *testing.T) v1.Image {
			raw := []byte(strings.Repeat("this is not a tar stream ", 40))
			return imageOf(t, newBlobLayer(raw, raw))
		}, nil, imagefs.ErrInvalidImage, "tar"},
		{"truncated gzip", func(t *testing.T) v1.Image {
			gz := gzipOf(t, valid)
			return imageOf(t, newBlobLayer(gz[:len(gz)/2], valid))
		}, nil, imagefs.ErrInvalidImage, ""},
		{"corrupt zstd", func(t *testing.T) v1.Image {
			zs := zstdOf(t, valid)
			zs[len(zs)/2] ^= 0xff
			zs[len(zs)/2+1] ^= 0xff
			return imageOf(t, newBlobLayer(zs, valid))
		}, nil, imagefs.ErrInvalidImage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.img(t)
			start := time.Now()
			_, err := read(t, img, tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestReadRefusesTooManyLayersBeforeReadingAny(t *testing.T) {
	opened := 0
	_, err := read(t, manyLayers{Image: empty.Image, n: 10_000, opened: &opened})
	if !errors.Is(err, imagefs.ErrLimitExceeded) || !strings.Contains(err.Error(), "WithMaxLayers") {
		t.Fatalf("Read = %v, want ErrLimitExceeded naming WithMaxLayers", err)
	}
	if opened != 0 {
		t.Errorf("%d layers were opened", opened)
	}
}

func TestReadZstdAndUncompressedLayers(t *testing.T) {
	a := tarOf(t, reg("etc/a", "from zstd"))
	b := tarOf(t, reg("etc/b", "from plain tar"))
	fsys, err := read(t, imageOf(t, newBlobLayer(zstdOf(t, a), a), newBlobLayer(b, b)))
	if err != nil {
		t.Fatal(err)
	}
	if got := content(t, fsys, "/etc/a") + "|" + content(t, fsys, "/etc/b"); got != "from zstd|from plain tar" {
		t.Errorf("contents = %q", got)
	}
}

var errFlaky = errors.New("connection reset")

type failingSource struct{ *blobLayer }

func (f failingSource) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(bytes.NewReader(f.blob[:len(f.blob)/2]), errReader{})), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errFlaky }

func TestReadReportsSourceFailuresAsFetchErrors(t *testing.T) {
	raw := tarOf(t, reg("a", strings.Repeat("data ", 2000)))
	l := failingSource{newBlobLayer(gzipOf(t, raw), raw)}
	_, err := read(t, imageOf(t, l))
	if !errors.Is(err, imagefs.ErrFetch) || !errors.Is(err, errFlaky) || errors.Is(err, imagefs.ErrInvalidImage) {
		t.Fatalf("Read = %v, want ErrFetch wrapping the cause", err)
	}
}

// recorder is an Observer keeping what it saw.
type recorder struct {
	mu   sync.Mutex
	seen map[string]string // "<layer index>:<path>" -> content
}

type recordWriter struct {
	bytes.Buffer
	r   *recorder
	key string
}

func (w *recordWriter) Close() error {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	w.r.seen[w.key] = w.String()
	return nil
}

func (r *recorder) ObserveFile(l imagefs.Layer, p string, _ int64) io.WriteCloser {
	if l.Digest == "" || l.DiffID == "" {
		return nil
	}
	return &recordWriter{r: r, key: string(rune('0'+l.Index)) + ":" + p}
}

// A file that a later layer deletes or replaces is still seen by the observer.
func TestObserverSeesDeletedFiles(t *testing.T) {
	img := imageOfEntries(t,
		[]ent{reg("app/.env", "TOKEN=one"), reg("app/config", "v1")},
		[]ent{reg("app/.wh..env", ""), reg("app/config", "v2")},
	)
	rec := &recorder{seen: map[string]string{}}
	fsys, err := read(t, img, imagefs.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0:/app/.env": "TOKEN=one", "0:/app/config": "v1", "1:/app/config": "v2"}
	if diff := cmp.Diff(want, rec.seen); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	if fsys.HasPath("/app/.env") {
		t.Error("the deleted file is in the squashed view")
	}
}

func TestReadKeepsOnlySelectedContent(t *testing.T) {
	elf := "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00" + strings.Repeat("\x00", 100)
	img := imageOfEntries(t, []ent{reg("keep.txt", "kept"), reg("drop.txt", "dropped"), reg("bin/tool", elf)})
	var heads = map[string]int{}
	var mu sync.Mutex
	fsys, err := imagefs.Read(context.Background(), img, imagefs.WithTempDir(t.TempDir()),
		imagefs.WithKeep(func(p string, _ int64, head []byte) bool {
			mu.Lock()
			heads[p] = len(head)
			mu.Unlock()
			return p == "/keep.txt" || imagefs.ExecutableMIME(head) != ""
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if got := content(t, fsys, "/keep.txt"); got != "kept" {
		t.Errorf("keep.txt = %q", got)
	}
	if e, _ := fsys.Resolve("/drop.txt"); e.Kept() {
		t.Error("drop.txt was kept")
	} else if _, err := fsys.Open(e); err == nil {
		t.Error("Open of a file not kept succeeded")
	}
	if got := fsys.ByMIMEType("application/x-executable"); len(got) != 1 || got[0].Path != "/bin/tool" {
		t.Errorf("ByMIMEType = %v", got)
	}
	if heads["/bin/tool"] != len(elf) || heads["/keep.txt"] != 4 {
		t.Errorf("heads shown = %v", heads)
	}
	if st := fsys.Stats(); st.KeptFiles != 2 || st.KeptBytes != int64(4+len(elf)) {
		t.Errorf("stats = %+v", st)
	}
}

// A cancelled read stops with the context's error, not as an invalid image.
func TestReadStopsWhenCancelled(t *testing.T) {
	bomb := zeroBomb(t, 64<<20, gzipWriter)
	img := imageOf(t, newBlobLayer(bomb, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := imagefs.Read(ctx, img, imagefs.WithTempDir(t.TempDir()))
	if !errors.Is(err, context.Canceled) || errors.Is(err, imagefs.ErrInvalidImage) {
		t.Fatalf("Read = %v, want context.Canceled", err)
	}
}

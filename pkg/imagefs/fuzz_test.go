package imagefs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/imagefs"
)

// FuzzWalkLayer feeds arbitrary bytes to Read as an image's only layer blob (gzip, zstd or
// plain tar by their magic bytes): hostile layers must give one of the package's errors
// or an index whose paths stay inside the image, never a panic or an unbounded read.
func FuzzWalkLayer(f *testing.F) {
	f.Add(tarOf(f, reg("etc/os-release", "ID=x\n"), dir("var/"), symlink("var/run", "../run"), hardlink("x", "etc/os-release")))
	f.Add(tarOf(f, reg("../../etc/passwd", "x")))
	f.Add(tarOf(f, reg("a/.wh..wh..opq", ""), reg(".wh.b", ""), symlink("l1", "l2"), symlink("l2", "/l1")))
	f.Add(gzipOf(f, tarOf(f, reg("/ko-app/x", "\x7fELF\x02\x01\x01"))))
	f.Add(zstdOf(f, tarOf(f, reg("a", "b"))))
	f.Add([]byte("not a tar"))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		img := imageOf(t, newBlobLayer(data, data))
		fsys, err := imagefs.Read(ctx, img, imagefs.WithTempDir(t.TempDir()), imagefs.WithKeep(keepAll),
			imagefs.WithMaxLayerSize(8<<20), imagefs.WithMaxEntries(2000), imagefs.WithoutDiffIDVerificationUnsafe())
		if err != nil {
			if !errors.Is(err, imagefs.ErrInvalidImage) && !errors.Is(err, imagefs.ErrLimitExceeded) {
				t.Fatalf("Read = %v, want ErrInvalidImage or ErrLimitExceeded", err)
			}
			return
		}
		defer fsys.Close()
		for _, e := range fsys.Entries() {
			if !strings.HasPrefix(e.Path, "/") || strings.Contains(e.Path+"/", "/../") || strings.Contains(e.Path, "//") {
				t.Fatalf("entry path %q is not clean and inside the image", e.Path)
			}
			if r, ok := fsys.Resolve(e.Path); ok && r.Type == imagefs.TypeFile && r.Kept() {
				if _, err := fsys.Open(r); err != nil {
					t.Fatalf("open kept %s: %v", r.Path, err)
				}
			}
		}
	})
}

package secrets_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/custody-dev/custody/pkg/secrets"
)

// hostText is up to 32 MiB of text files from this machine's /usr/share/doc and /etc,
// as a stand-in for the text in an image's layers.
func hostText(b *testing.B) [][]byte {
	b.Helper()
	var files [][]byte
	total := 0
	for _, dir := range []string{"/usr/share/doc", "/etc"} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || total > 32<<20 {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil || len(data) == 0 || filepath.Ext(p) == ".gz" {
				return nil
			}
			files = append(files, data)
			total += len(data)
			return nil
		})
	}
	if total < 1<<20 {
		b.Skip("less than 1 MiB of text on this machine")
	}
	return files
}

func benchFiles(b *testing.B, files [][]byte) {
	var total int64
	for _, f := range files {
		total += int64(len(f))
	}
	b.SetBytes(total)
	b.ResetTimer()
	for range b.N {
		s, _ := secrets.NewScanner()
		for _, f := range files {
			w := s.File(secrets.Location{Layer: "sha256:aa", Path: "/f"}, int64(len(f)))
			if w == nil {
				continue
			}
			for c := f; len(c) > 0; { // the 32 KiB writes of a tar reader
				n := min(len(c), 32<<10)
				_, _ = w.Write(c[:n])
				c = c[n:]
			}
			_ = w.Close()
		}
	}
}

func BenchmarkScanText(b *testing.B) { benchFiles(b, hostText(b)) }

// BenchmarkScanBinary reads this machine's executables and shared libraries, which are
// searched for PEM keys only.
func BenchmarkScanBinary(b *testing.B) {
	var files [][]byte
	total := 0
	for _, dir := range []string{"/usr/bin", "/usr/lib/x86_64-linux-gnu"} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || total > 64<<20 {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil || len(data) < 4 || string(data[:4]) != "\x7fELF" {
				return nil
			}
			files = append(files, data)
			total += len(data)
			return nil
		})
	}
	if total < 1<<20 {
		b.Skip("no executables")
	}
	benchFiles(b, files)
}

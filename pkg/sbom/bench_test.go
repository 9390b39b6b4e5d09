package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/custody-dev/custody/pkg/imagefs"
	"github.com/custody-dev/custody/pkg/secrets"
)

// benchRootfs is a Debian rootfs tar another tool leaves in the repository's .data
// directory; without it the benchmark synthesises a layer from this machine's files.
const benchRootfs = "../../.data/debian-image/rootfs-bookworm-minbase-amd64.tar"

// benchLayerTar returns an uncompressed layer resembling a Debian rootfs: the rootfs tar
// when it is there, else up to 160 MB of /usr/bin, /usr/lib/x86_64-linux-gnu, /usr/share
// and /etc (many small text files, ELF binaries and libraries).
func benchLayerTar(b *testing.B) []byte {
	b.Helper()
	if data, err := os.ReadFile(benchRootfs); err == nil && len(data) > 0 {
		b.Logf("layer: %s", benchRootfs)
		return data
	}
	const budget = 160 << 20
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, root := range []string{"/etc", "/usr/share", "/usr/bin", "/usr/lib/x86_64-linux-gnu"} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || buf.Len() > budget {
				return filepath.SkipDir
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			link := ""
			if info.Mode()&fs.ModeSymlink != 0 {
				link, _ = os.Readlink(p)
			} else if !info.Mode().IsRegular() && !info.IsDir() {
				return nil
			}
			hdr, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return nil
			}
			hdr.Name = p[1:]
			var body []byte
			if info.Mode().IsRegular() {
				if body, err = os.ReadFile(p); err != nil {
					return nil
				}
				hdr.Size = int64(len(body))
			}
			if tw.WriteHeader(hdr) == nil {
				_, _ = tw.Write(body)
			}
			return nil
		})
	}
	_ = tw.Close()
	b.Logf("layer: synthesised from this machine's files")
	return buf.Bytes()
}

type discardObserver struct{}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func (discardObserver) ObserveFile(imagefs.Layer, string, int64) io.WriteCloser {
	return nopWriteCloser{io.Discard}
}

// rawWalk is the baseline: gunzip and walk the tar, reading every file to io.Discard.
func rawWalk(gz []byte) (int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return 0, err
	}
	tr := tar.NewReader(zr)
	var n int64
	for {
		if _, err := tr.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		m, err := io.Copy(io.Discard, tr)
		if err != nil {
			return n, err
		}
		n += m
	}
}

// BenchmarkLayerWalk measures, in one run and on the same gzip layer, a raw gunzip + tar
// walk (raw-MB/s) and imagefs.Read with the keep predicate Scan uses and an observer that
// discards every file, as a secret scanner's would (imagefs-MB/s); ratio is the second
// over the first (ratio-best compares the fastest iteration of each). imagefs-blobdigest-MB/s is the same read verifying the compressed blob's
// digest instead of the diff ID. MB are of uncompressed tar.
func BenchmarkLayerWalk(b *testing.B) {
	raw := benchLayerTar(b)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	sum := sha256.Sum256(raw)
	diff := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	layer := &benchLayer{Layer: static.NewLayer(gz.Bytes(), types.OCILayer), diffID: diff}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		b.Fatal(err)
	}
	cat, err := NewCataloguer()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := cat.licenseContext(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.Logf("layer: %d MB uncompressed, %d MB gzip", len(raw)>>20, gz.Len()>>20)
	var rawTime, fsTime, blobTime, secTime time.Duration
	bestSecrets := time.Duration(1 << 62)
	bestRaw, bestFS := time.Duration(1<<62), time.Duration(1<<62)
	var stats imagefs.Stats
	for b.Loop() {
		t0 := time.Now()
		if _, err := rawWalk(gz.Bytes()); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		fsys, err := imagefs.Read(context.Background(), img, imagefs.WithTempDir(dir),
			imagefs.WithKeep(cat.keep.keep), imagefs.WithObserver(discardObserver{}))
		if err != nil {
			b.Fatal(err)
		}
		stats = fsys.Stats()
		_ = fsys.Close()
		t2 := time.Now()
		// The same read checking the blob digest instead of the diff ID.
		fsys, err = imagefs.Read(context.Background(), img, imagefs.WithTempDir(dir),
			imagefs.WithKeep(cat.keep.keep), imagefs.WithObserver(discardObserver{}), imagefs.WithoutDiffIDVerificationUnsafe())
		if err != nil {
			b.Fatal(err)
		}
		_ = fsys.Close()
		t3 := time.Now()
		// As the scanner reads: the secrets scanner sees every file.
		sec, err := secrets.NewScanner()
		if err != nil {
			b.Fatal(err)
		}
		fsys, err = imagefs.Read(context.Background(), img, imagefs.WithTempDir(dir),
			imagefs.WithKeep(cat.keep.keep), imagefs.WithObserver(secretsObserver{sec}))
		if err != nil {
			b.Fatal(err)
		}
		_ = fsys.Close()
		t4 := time.Now()
		rawTime += t1.Sub(t0)
		fsTime += t2.Sub(t1)
		bestRaw, bestFS = min(bestRaw, t1.Sub(t0)), min(bestFS, t2.Sub(t1))
		blobTime += t3.Sub(t2)
		secTime += t4.Sub(t3)
		bestSecrets = min(bestSecrets, t4.Sub(t3))
	}
	mb := float64(len(raw)) / 1e6 * float64(b.N)
	b.ReportMetric(mb/rawTime.Seconds(), "raw-MB/s")
	b.ReportMetric(mb/fsTime.Seconds(), "imagefs-MB/s")
	b.ReportMetric(rawTime.Seconds()/fsTime.Seconds(), "ratio")
	// On a shared machine the fastest of each is the steadier comparison.
	b.ReportMetric(bestRaw.Seconds()/bestFS.Seconds(), "ratio-best")
	b.ReportMetric(mb/blobTime.Seconds(), "imagefs-blobdigest-MB/s")
	b.ReportMetric(mb/secTime.Seconds(), "imagefs+secrets-MB/s")
	b.ReportMetric(rawTime.Seconds()/secTime.Seconds(), "ratio-secrets")
	b.ReportMetric(bestRaw.Seconds()/bestSecrets.Seconds(), "ratio-secrets-best")
	b.ReportMetric(float64(stats.KeptFiles), "kept-files")
	b.ReportMetric(float64(stats.KeptBytes)/1e6, "kept-MB")
	b.ReportMetric(float64(stats.Entries), "entries")
}

// benchLayer is a static gzip layer with its true diff ID.
type benchLayer struct {
	v1.Layer
	diffID v1.Hash
}

func (l *benchLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// secretsObserver passes every file to the secrets scanner, as pkg/scan does.
type secretsObserver struct{ s *secrets.Scanner }

func (o secretsObserver) ObserveFile(l imagefs.Layer, path string, size int64) io.WriteCloser {
	if w := o.s.File(secrets.Location{Layer: l.Digest, LayerIndex: l.Index, Path: path}, size); w != nil {
		return w
	}
	return nil
}

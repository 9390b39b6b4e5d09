package sbom_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/custody-dev/custody/pkg/sbom"
)

// One Cataloguer serves concurrent scans of different images, each getting its own
// packages, and scanning the same image twice yields the same bytes.
func TestCataloguerConcurrentScans(t *testing.T) {
	cat, err := sbom.NewCataloguer(sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	imgs := map[string]v1.Image{"debian": imageOf(t, debianLayer()), "alpine": imageOf(t, alpineLayer())}
	want := map[string]string{"debian": "bash", "alpine": "musl"}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		docs = map[string][][]byte{}
	)
	for range 2 {
		for kind, img := range imgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := cat.Scan(context.Background(), img)
				if err != nil {
					t.Errorf("%s: %v", kind, err)
					return
				}
				if _, ok := libraries(decode(t, res.Document))[want[kind]]; !ok {
					t.Errorf("%s: SBOM lacks %s", kind, want[kind])
				}
				mu.Lock()
				docs[kind] = append(docs[kind], res.Document)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for kind, d := range docs {
		if len(d) != 2 || !bytes.Equal(d[0], d[1]) {
			t.Errorf("%s: %d documents, identical=%v", kind, len(d), len(d) == 2 && bytes.Equal(d[0], d[1]))
		}
	}
}

// BenchmarkScan compares a one-off scan (building syft's license scanner each time)
// with a reused Cataloguer, on the same small Debian image.
func BenchmarkScan(b *testing.B) {
	img := imageOf(b, debianLayer())
	dir := b.TempDir()
	b.Run("one-shot", func(b *testing.B) {
		for b.Loop() {
			if _, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(dir)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cataloguer", func(b *testing.B) {
		cat, err := sbom.NewCataloguer(sbom.WithTempDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		// The first scan builds the shared license scanner; time the steady state.
		if _, err := cat.Scan(context.Background(), img); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := cat.Scan(context.Background(), img); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScanParallel is the scan stage's ceiling on this machine: one Cataloguer
// scanning with GOMAXPROCS goroutines, as the scanner service does with its concurrency.
func BenchmarkScanParallel(b *testing.B) {
	img := imageOf(b, debianLayer())
	cat, err := sbom.NewCataloguer(sbom.WithTempDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := cat.Scan(context.Background(), img); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cat.Scan(context.Background(), img); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "scans/s")
}

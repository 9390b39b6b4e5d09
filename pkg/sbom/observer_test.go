package sbom_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/imagefs"
	"github.com/custody-dev/custody/pkg/sbom"
)

// seen is an Observer recording each file's layer, path and content.
type seen struct {
	mu    sync.Mutex
	files map[string]string
}

type seenFile struct {
	bytes.Buffer
	s   *seen
	key string
}

func (f *seenFile) Close() error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.files[f.key] = f.String()
	return nil
}

func (s *seen) ObserveFile(l imagefs.Layer, path string, _ int64) io.WriteCloser {
	return &seenFile{s: s, key: fmt.Sprintf("%d:%s", l.Index, path)}
}

// WithObserver sees every file of every layer during the scan's single read, including a
// file a later layer deletes, which the SBOM does not.
func TestScanPassesFilesToObserver(t *testing.T) {
	img := imageOf(t,
		[]entry{file("app/.env", "API_TOKEN=placeholder"), file("etc/os-release", alpineOSRelease)},
		[]entry{file("app/.wh..env", ""), file("lib/apk/db/installed", apkInstalled)},
	)
	obs := &seen{files: map[string]string{}}
	res, err := sbom.Scan(context.Background(), img, sbom.WithObserver(obs), sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"0:/app/.env":             "API_TOKEN=placeholder",
		"0:/etc/os-release":       alpineOSRelease,
		"1:/lib/apk/db/installed": apkInstalled,
	}
	if diff := cmp.Diff(want, obs.files); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	if res.Packages != 2 {
		t.Errorf("Packages = %d, want 2", res.Packages)
	}
	if _, err := sbom.Scan(context.Background(), img, sbom.WithObserver(nil)); err == nil {
		t.Error("Scan accepted a nil observer")
	}
}

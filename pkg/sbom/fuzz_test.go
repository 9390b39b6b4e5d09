package sbom_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"

	"github.com/custody-dev/custody/pkg/sbom"
)

// FuzzScanLayer feeds arbitrary bytes to Scan as an image's only layer: hostile layers
// must give an error or a valid document, never a panic or an unbounded read.
func FuzzScanLayer(f *testing.F) {
	f.Add(tarBytes(f, debianLayer()...))
	f.Add(tarBytes(f, alpineLayer()...))
	f.Add(tarBytes(f, file("var/lib/dpkg/status", "Package: x\nVersion\n\n\nPackage:\nStatus: ::\n")))
	f.Add(tarBytes(f, file("lib/apk/db/installed", "P:\nV:\nP:a\nV:1\nA:\n\n\nC:"), file("etc/os-release", "ID=\"")))
	f.Add(tarBytes(f, entry{name: "var/lib/dpkg/status", typ: '2', link: "/var/lib/dpkg/status"}))
	f.Add(tarBytes(f, file("../../etc/passwd", "x"), file("var/lib/dpkg/.wh..wh..opq", "")))
	f.Add(tarBytes(f, entry{name: "lib/apk/db/installed", typ: '2', link: "x"}, entry{name: "lib/apk/db/x", typ: '2', link: "installed"}))
	f.Add([]byte("not a tar"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		img, err := mutate.AppendLayers(empty.Image, layerOf(t, data))
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := sbom.Scan(ctx, img, sbom.WithTempDir(t.TempDir()), sbom.WithParallelism(1),
			sbom.WithMaxLayerSize(2<<20), sbom.WithMaxEntries(1000))
		if err != nil {
			return
		}
		if res.Status != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE && res.Status != eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE {
			t.Fatalf("status %v", res.Status)
		}
		if !json.Valid(res.Document) {
			t.Fatalf("document is not JSON: %q", res.Document)
		}
	})
}

package sbom_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"

	"github.com/custody-dev/custody/pkg/sbom"
)

func TestScanFindsPackages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		layers   func(t *testing.T) [][]entry
		wantOS   string
		want     []component
		wantNone []string
	}{
		{
			name:   "debian dpkg status and status.d",
			layers: func(*testing.T) [][]entry { return [][]entry{debianLayer()} },
			wantOS: "debian 12",
			want: []component{
				{"base-files", "12.4+deb12u5", "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12"},
				{"bash", "5.2.15-2+b7", "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12"},
				{"libc6", "2.36-9+deb12u7", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12&upstream=glibc"},
				{"tzdata", "2024a-0+deb12u1", "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"},
			},
		},
		{
			name:   "alpine installed db",
			layers: func(*testing.T) [][]entry { return [][]entry{alpineLayer()} },
			wantOS: "alpine 3.20.3",
			want: []component{
				{"musl", "1.2.5-r0", "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3"},
				{"busybox", "1.36.1-r29", "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3"},
			},
		},
		{
			name: "go binary build info over a debian base",
			layers: func(t *testing.T) [][]entry {
				return [][]entry{debianLayer(), {{name: "usr/local/bin/app", body: string(goBinaryBytes(t)), mode: 0o755}}}
			},
			wantOS: "debian 12",
			want: []component{
				{"bash", "5.2.15-2+b7", "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12"},
				{"github.com/CycloneDX/cyclonedx-go", "v0.12.0", "pkg:golang/github.com/CycloneDX/cyclonedx-go@v0.12.0"},
				{"stdlib", "go" + strings.TrimPrefix(goVersion(t), "go"), "pkg:golang/stdlib@" + strings.TrimPrefix(goVersion(t), "go")},
			},
		},
		{
			name:     "whiteout removes the dpkg status of a lower layer",
			layers:   func(*testing.T) [][]entry { return [][]entry{debianLayer(), {file("var/lib/dpkg/.wh.status", "")}} },
			wantOS:   "debian 12",
			want:     []component{{"tzdata", "2024a-0+deb12u1", "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"}},
			wantNone: []string{"bash", "libc6", "base-files"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := imageOf(t, tc.layers(t)...)
			res, err := sbom.Scan(context.Background(), img, sbom.WithParallelism(2), sbom.WithTempDir(t.TempDir()))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if res.Status != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE {
				t.Errorf("status = %v, want COMPLETE", res.Status)
			}
			if res.OS != tc.wantOS {
				t.Errorf("OS = %q, want %q", res.OS, tc.wantOS)
			}
			bom := decode(t, res.Document)
			got := libraries(bom)
			for _, w := range tc.want {
				if diff := cmp.Diff(w, got[w.Name]); diff != "" {
					t.Errorf("component %s (-want +got):\n%s", w.Name, diff)
				}
			}
			for _, n := range tc.wantNone {
				if c, ok := got[n]; ok {
					t.Errorf("component %+v reported, but its status file was deleted", c)
				}
			}
			if res.Packages != len(got) {
				t.Errorf("Packages = %d, document lists %d components: %v", res.Packages, len(got), got)
			}
		})
	}
}

func TestScanGoBinaryMainModule(t *testing.T) {
	img := imageOf(t, [][]entry{{{name: "app", body: string(goBinaryBytes(t)), mode: 0o755}}}...)
	res, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	got := libraries(decode(t, res.Document))
	main, ok := got["github.com/custody-dev/custody/pkg"]
	if !ok {
		t.Fatalf("main module missing; components: %v", got)
	}
	if !strings.HasPrefix(main.PURL, "pkg:golang/github.com/custody-dev/custody/pkg") {
		t.Errorf("main module purl = %q", main.PURL)
	}
	if res.Status != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE || res.OS != "" {
		t.Errorf("status %v, OS %q; want COMPLETE with no OS", res.Status, res.OS)
	}
}

func TestScanNothingRecognisedIsIncomplete(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers [][]entry
	}{
		{"no layers", nil},
		{"unrelated files", [][]entry{{file("README", "hello"), file("srv/data.json", "{}")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := empty.Image
			if tc.layers != nil {
				img = imageOf(t, tc.layers...)
			}
			res, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if res.Status != eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE || res.Packages != 0 || res.OS != "" {
				t.Errorf("result = status %v, %d packages, OS %q; want INCOMPLETE, 0, none", res.Status, res.Packages, res.OS)
			}
			decode(t, res.Document)
		})
	}
}

func TestScanIsDeterministicAndNamesTheDigest(t *testing.T) {
	img := imageOf(t, debianLayer(), alpineLayer())
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	const ref = "registry.example/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	first, err := sbom.Scan(context.Background(), img, sbom.WithReference(ref), sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	second, err := sbom.Scan(context.Background(), img, sbom.WithReference(ref), sbom.WithTempDir(t.TempDir()), sbom.WithParallelism(1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Document, second.Document) {
		t.Fatalf("two scans of one image differ:\n%s\n---\n%s", first.Document, second.Document)
	}
	if first.Digest != d.String() {
		t.Errorf("Digest = %s, want %s", first.Digest, d)
	}
	if !strings.HasPrefix(first.Scanner, "syft@v") {
		t.Errorf("Scanner = %q", first.Scanner)
	}
	bom := decode(t, first.Document)
	if bom.SpecVersion != 7 || bom.BOMFormat != "CycloneDX" {
		t.Errorf("spec %v format %q, want CycloneDX 1.6", bom.SpecVersion, bom.BOMFormat)
	}
	if !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("serial number %q", bom.SerialNumber)
	}
	if bom.Metadata.Timestamp != "" {
		t.Errorf("timestamp %q makes the document differ between runs", bom.Metadata.Timestamp)
	}
	c := bom.Metadata.Component
	if c == nil || c.Version != d.String() || c.Name != "registry.example/team/app" ||
		c.PackageURL != "pkg:oci/app@"+strings.Replace(d.String(), ":", "%3A", 1)+"?repository_url=registry.example/team/app" {
		t.Errorf("metadata component = %+v, want it to name %s", c, d)
	}
	other, err := sbom.Scan(context.Background(), imageOf(t, alpineLayer()), sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if decode(t, other.Document).SerialNumber == bom.SerialNumber {
		t.Error("two different images got the same serial number")
	}
}

func TestScanLimits(t *testing.T) {
	many := make([]entry, 50)
	for i := range many {
		many[i] = file("f/"+strings.Repeat("x", i+1), "")
	}
	for _, tc := range []struct {
		name   string
		layers [][]entry
		opt    sbom.Option
	}{
		{"layer size", [][]entry{debianLayer()}, sbom.WithMaxLayerSize(1024)},
		{"image size", [][]entry{alpineLayer(), alpineLayer(), alpineLayer()}, sbom.WithMaxImageSize(8 << 10)},
		{"entries", [][]entry{many}, sbom.WithMaxEntries(10)},
		{"layers", [][]entry{alpineLayer(), debianLayer()}, sbom.WithMaxLayers(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sbom.Scan(context.Background(), imageOf(t, tc.layers...), tc.opt, sbom.WithTempDir(t.TempDir()))
			if !isErr(err, sbom.ErrLimitExceeded) {
				t.Fatalf("Scan = %v, want ErrLimitExceeded", err)
			}
		})
	}
}

func TestScanHostileLayers(t *testing.T) {
	escape := t.TempDir() + "/escaped"
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr bool
	}{
		{"not a tar", []byte("this is not a tar stream, just bytes pretending to be a layer"), true},
		{"path traversal", tarBytes(t,
			file("../../../../../../.."+escape, "owned"),
			entry{name: "etc/os-release", typ: '2', link: "../../../../../../etc/os-release"},
			file("var/lib/dpkg/status", dpkgStatus)), true},
		{"symlink escape", tarBytes(t,
			entry{name: "etc/os-release", typ: '2', link: "../../../../../../etc/os-release"},
			file("var/lib/dpkg/status", dpkgStatus)), false},
		{"symlink loop", tarBytes(t,
			entry{name: "var/lib/dpkg/status", typ: '2', link: "status.d/x"},
			entry{name: "var/lib/dpkg/status.d/x", typ: '2', link: "../status"},
			entry{name: "etc/os-release", typ: '2', link: "/etc/os-release"},
			entry{name: "a", typ: '1', link: "b"}), false},
		{"truncated tar", tarBytes(t, file("var/lib/dpkg/status", dpkgStatus))[:700], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := imageOf(t)
			var err error
			img, err = appendRaw(img, layerOf(t, tc.data))
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			_, err = sbom.Scan(context.Background(), img, sbom.WithTempDir(tmp))
			if tc.wantErr && !errors.Is(err, sbom.ErrInvalidImage) {
				t.Fatalf("Scan = %v, want ErrInvalidImage", err)
			}
			if !tc.wantErr && err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if _, statErr := os.Stat(escape); statErr == nil {
				t.Fatal("a layer entry was written outside the scan")
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("scan left %d entries in its temp dir", len(left))
			}
		})
	}
}

func TestScanOptionsValidate(t *testing.T) {
	for _, opt := range []sbom.Option{
		sbom.WithMaxLayers(0), sbom.WithMaxLayerSize(0), sbom.WithMaxImageSize(-1), sbom.WithMaxEntries(0),
		sbom.WithTempDir(""), sbom.WithReference("not a ref!"), sbom.WithParallelism(0),
	} {
		if _, err := sbom.Scan(context.Background(), empty.Image, opt); err == nil {
			t.Error("Scan accepted an invalid option")
		}
	}
	if _, err := sbom.Scan(context.Background(), nil); !isErr(err, sbom.ErrInvalidImage) {
		t.Errorf("Scan(nil) = %v, want ErrInvalidImage", err)
	}
}

var errBoom = errors.New("connection reset by registry")

// failingLayer is a layer whose blob stream breaks part-way, as a network read can.
type failingLayer struct{ v1.Layer }

func (l failingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, 100), iotest.ErrReader(errBoom)), rc}, nil
}

func TestScanReportsSourceFailuresAsFetchErrors(t *testing.T) {
	l := failingLayer{layerOf(t, tarBytes(t, debianLayer()...))}
	img, err := appendRaw(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
	if !errors.Is(err, sbom.ErrFetch) || !errors.Is(err, errBoom) || errors.Is(err, sbom.ErrInvalidImage) {
		t.Fatalf("Scan = %v, want ErrFetch wrapping the read error", err)
	}
}

package scan_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/pkg/scan"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

const osRelease = "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"

func dpkgStatus(pkgs ...string) string {
	var b bytes.Buffer
	for _, p := range pkgs {
		b.WriteString("Package: " + p + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\nDescription: test\n\n")
	}
	return b.String()
}

func layer(t *testing.T, files map[string]string) v1.Layer { return ocitest.Layer(t, files) }

func debian(t *testing.T, pkgs ...string) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layer(t, map[string]string{
		"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus(pkgs...),
		"usr/share/doc/" + pkgs[0] + "/copyright": "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MIT\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newScanner(t *testing.T, opts ...scan.Option) *scan.Scanner {
	t.Helper()
	s, err := scan.New(append([]scan.Option{scan.WithSBOMOptions(sbom.WithTempDir(t.TempDir()))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func names(pkgs []scan.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func TestImage(t *testing.T) {
	s := newScanner(t)
	img := debian(t, "bash", "zlib1g")
	r, err := s.Image(context.Background(), img, "registry.test/team/app@"+digestOf(t, img))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE || r.StatusName() != "complete" || r.OS != "debian 12" {
		t.Fatalf("status %s os %q detail %q", r.Status, r.OS, r.Detail)
	}
	if got := names(r.Packages); !slices.Equal(got, []string{"bash", "zlib1g"}) {
		t.Errorf("packages %v", got)
	}
	for _, p := range r.Packages {
		if p.Type != "deb" || p.PURL == "" || p.Layer == "" {
			t.Errorf("package %+v lacks type, purl or layer", p)
		}
		if p.Name == "bash" && !slices.Equal(p.Licenses, []string{"MIT"}) {
			t.Errorf("bash licenses %v, want MIT from its copyright file", p.Licenses)
		}
	}
	if want := []scan.LicenseCount{{License: "MIT", Packages: 1}, {License: "NOASSERTION", Packages: 1}}; !slices.Equal(r.Licenses, want) {
		t.Errorf("license summary %v, want %v", r.Licenses, want)
	}
}

func TestEmptyInventoryIsIncomplete(t *testing.T) {
	s := newScanner(t)
	img, err := mutate.AppendLayers(empty.Image, layer(t, map[string]string{"data/readme.txt": "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Image(context.Background(), img, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE || r.Detail == "" || len(r.Packages) != 0 {
		t.Errorf("status %s detail %q packages %d, want INCOMPLETE with a reason", r.Status, r.Detail, len(r.Packages))
	}
}

func TestImageOverALimitFails(t *testing.T) {
	s := newScanner(t, scan.WithSBOMOptions(sbom.WithMaxLayers(1)))
	img, err := random.Image(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Image(context.Background(), img, "")
	if err != nil {
		t.Fatalf("a limit is the image's fault, not an error to retry: %v", err)
	}
	if r.Status != eventsv1.ScanStatus_SCAN_STATUS_FAILED || !errors.Is(r.Err, scan.ErrImage) || !errors.Is(r.Err, sbom.ErrLimitExceeded) {
		t.Errorf("status %s err %v, want FAILED over a limit", r.Status, r.Err)
	}
}

func TestIndexIsScannedPerPlatform(t *testing.T) {
	s := newScanner(t)
	amd, arm := debian(t, "bash"), debian(t, "bash", "curl")
	attest, err := random.Image(32, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: attest, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
		}},
	)
	rs, err := s.Index(context.Background(), idx, "registry.test/team/multi")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want one per platform (the attestation manifest skipped)", len(rs))
	}
	want := map[string]struct {
		digest string
		pkgs   []string
	}{"linux/amd64": {digestOf(t, amd), []string{"bash"}}, "linux/arm64/v8": {digestOf(t, arm), []string{"bash", "curl"}}}
	for _, r := range rs {
		w, ok := want[r.Platform]
		if !ok || r.Digest != w.digest || r.Reference != "registry.test/team/multi@"+w.digest || !slices.Equal(names(r.Packages), w.pkgs) {
			t.Errorf("platform %q digest %s ref %s packages %v", r.Platform, r.Digest, r.Reference, names(r.Packages))
		}
	}
	if st := scan.IndexStatus(rs); st != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE {
		t.Errorf("index status %s", st)
	}
	idxDigest, _ := idx.Digest()
	doc, err := scan.IndexSBOM(idxDigest.String(), "registry.test/team/multi", "test", rs)
	if err != nil {
		t.Fatal(err)
	}
	all, err := scan.Packages(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(all); !slices.Equal(got, []string{"bash", "bash", "curl"}) {
		t.Errorf("index SBOM packages %v, want every platform's", got)
	}
	for _, d := range []string{idxDigest.String(), digestOf(t, amd), digestOf(t, arm)} {
		if !bytes.Contains(doc, []byte(d)) {
			t.Errorf("index SBOM does not name %s", d)
		}
	}
}

func TestIndexLimitsAndNesting(t *testing.T) {
	img := debian(t, "bash")
	inner := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	nested := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: inner, Descriptor: v1.Descriptor{MediaType: types.OCIImageIndex, Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}},
	)
	rs, err := newScanner(t).Index(context.Background(), nested, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[1].Status != eventsv1.ScanStatus_SCAN_STATUS_FAILED || scan.IndexStatus(rs) != eventsv1.ScanStatus_SCAN_STATUS_FAILED {
		t.Fatalf("nested index: %d results, index status %s", len(rs), scan.IndexStatus(rs))
	}
	if _, err := scan.IndexSBOM("sha256:"+string(bytes.Repeat([]byte("0"), 64)), "", "test", rs); err == nil {
		t.Error("IndexSBOM combined a failed platform")
	}
	if _, err := newScanner(t, scan.WithMaxPlatforms(1)).Index(context.Background(), nested, ""); !errors.Is(err, scan.ErrImage) {
		t.Errorf("two platforms over a limit of one: %v", err)
	}
	if _, err := newScanner(t).Index(context.Background(), empty.Index, ""); !errors.Is(err, scan.ErrImage) {
		t.Errorf("empty index: %v", err)
	}
}

func TestPackagesRejectsNonCycloneDX(t *testing.T) {
	for _, doc := range []string{`nope`, `{"spdxVersion":"SPDX-2.3"}`} {
		if _, err := scan.Packages([]byte(doc)); err == nil {
			t.Errorf("Packages(%s) = nil error", doc)
		}
	}
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

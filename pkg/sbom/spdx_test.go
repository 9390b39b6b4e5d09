package sbom_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/imagefs"
	"github.com/custody-dev/custody/pkg/sbom"
)

func TestSPDXHasTheSamePackages(t *testing.T) {
	res, err := sbom.Scan(context.Background(), imageOf(t, debianLayer()), sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := res.SPDX()
	if err != nil {
		t.Fatal(err)
	}
	var spdx struct {
		Version  string `json:"spdxVersion"`
		Packages []struct {
			Name         string `json:"name"`
			ExternalRefs []struct {
				Type    string `json:"referenceType"`
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(doc, &spdx); err != nil {
		t.Fatal(err)
	}
	if spdx.Version != "SPDX-2.3" {
		t.Errorf("spdxVersion %q", spdx.Version)
	}
	var spdxPURLs []string
	for _, p := range spdx.Packages {
		for _, r := range p.ExternalRefs {
			// The image itself is SPDX's root package (pkg:oci/…); the SBOM's metadata.
			if r.Type == "purl" && !strings.HasPrefix(r.Locator, "pkg:oci/") {
				spdxPURLs = append(spdxPURLs, r.Locator)
			}
		}
	}
	var cdxPURLs []string
	for _, c := range libraries(decode(t, res.Document)) {
		cdxPURLs = append(cdxPURLs, c.PURL)
	}
	slices.Sort(spdxPURLs)
	slices.Sort(cdxPURLs)
	if len(cdxPURLs) == 0 || !slices.Equal(spdxPURLs, cdxPURLs) {
		t.Errorf("SPDX purls %v, CycloneDX purls %v", spdxPURLs, cdxPURLs)
	}
	if _, err := (&sbom.Result{}).SPDX(); err == nil {
		t.Error("SPDX of an empty result: nil error")
	}
}

// WithFinalView sees the squashed filesystem: a file a later layer deleted is gone.
func TestFinalView(t *testing.T) {
	img := imageOf(t,
		[]entry{file("app/.env", "x"), file("app/keep", "y")},
		[]entry{file("app/.wh..env", "")},
	)
	var present []string
	_, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()), sbom.WithFinalView(func(fsys *imagefs.FS) {
		for _, p := range []string{"/app/.env", "/app/keep"} {
			if _, ok := fsys.Lookup(p); ok {
				present = append(present, p)
			}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(present, []string{"/app/keep"}) {
		t.Errorf("present %v, want only /app/keep", present)
	}
}

// The SBOM's metadata counts packages per license.
func TestLicenseSummary(t *testing.T) {
	layer := append(debianLayer(),
		file("usr/share/doc/bash/copyright", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n"))
	res, err := sbom.Scan(context.Background(), imageOf(t, layer), sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	bom := decode(t, res.Document)
	got := map[string]string{}
	if bom.Metadata.Properties != nil {
		for _, p := range *bom.Metadata.Properties {
			if l, ok := strings.CutPrefix(p.Name, sbom.LicenseSummaryProperty); ok {
				got[l] = p.Value
			}
		}
	}
	if got["GPL-3.0-or-later"] != "1" || got["NOASSERTION"] != strconv.Itoa(res.Packages-1) {
		t.Errorf("license summary %v, want bash under GPL-3.0-or-later and %d packages without a license", got, res.Packages-1)
	}
}

package ledger

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/ledger"
)

func TestReadSBOMPackages(t *testing.T) {
	doc, err := os.ReadFile("testdata/sbom/debian-app.cdx.json")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := readSBOMPackages(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Package{
		{PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl", Type: "deb",
			Namespace: "debian", Name: "libssl3", Version: "3.0.11-1~deb12u1",
			Ecosystem: "Debian:12", OSVName: "openssl", OSVVersion: "3.0.11-1~deb12u1"},
		{PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12", Type: "deb", Namespace: "debian",
			Name: "openssl", Version: "3.0.11-1~deb12u1", Ecosystem: "Debian:12", OSVName: "openssl", OSVVersion: "3.0.11-1~deb12u1"},
		{PURL: "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&epoch=1&upstream=zlib%401%3A1.2.13.dfsg-1",
			Type: "deb", Namespace: "debian", Name: "zlib1g", Version: "1:1.2.13.dfsg-1",
			Ecosystem: "Debian:12", OSVName: "zlib", OSVVersion: "1:1.2.13.dfsg-1"},
		{PURL: "pkg:golang/github.com/example/app@v1.2.3", Type: "golang", Namespace: "github.com/example", Name: "app",
			Version: "v1.2.3", Ecosystem: "Go", OSVName: "github.com/example/app", OSVVersion: "v1.2.3"},
		{PURL: "pkg:golang/golang.org/x/net@v0.17.0", Type: "golang", Namespace: "golang.org/x", Name: "net",
			Version: "v0.17.0", Ecosystem: "Go", OSVName: "golang.org/x/net", OSVVersion: "v0.17.0"},
		{PURL: "pkg:golang/stdlib@go1.21.3", Type: "golang", Name: "stdlib", Version: "go1.21.3",
			Ecosystem: "Go", OSVName: "stdlib", OSVVersion: "1.21.3"},
		{PURL: "pkg:pypi/jinja2@3.1.2", Type: "pypi", Name: "jinja2", Version: "3.1.2",
			Ecosystem: "PyPI", OSVName: "jinja2", OSVVersion: "3.1.2"},
		{PURL: "pkg:generic/busybox@1.36.1", Type: "generic", Name: "busybox", Version: "1.36.1"},
	}
	if diff := cmp.Diff(want, inv.packages); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	// The operating system and the file have no package URL; one purl does not parse.
	if inv.skipped != 3 {
		t.Errorf("skipped %d components, want 3", inv.skipped)
	}
	req := ledger.PutPackagesRequest{Digest: blob.Digest([]byte("x")), SBOMDigest: blob.Digest(doc), Packages: inv.packages, Skipped: inv.skipped}
	if err := req.Validate(); err != nil {
		t.Errorf("the store refuses the packages read: %v", err)
	}
}

func TestReadSBOMPackagesRejects(t *testing.T) {
	nest := func(depth int) string {
		return `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[` + strings.Repeat(`{"purl":"pkg:npm/a@1","components":[`, depth) +
			strings.Repeat(`]}`, depth) + `]}`
	}
	for _, tc := range []struct {
		name, doc, why string
	}{
		{"empty", ``, "not CycloneDX JSON"},
		{"not json", `<bom/>`, "not CycloneDX JSON"},
		{"SPDX", `{"spdxVersion":"SPDX-2.3","packages":[]}`, "bomFormat"},
		{"other format", `{"bomFormat":"SPDX","specVersion":"1.6"}`, "bomFormat"},
		{"no spec version", `{"bomFormat":"CycloneDX"}`, "specVersion"},
		{"spec version 2", `{"bomFormat":"CycloneDX","specVersion":"2.0"}`, "specVersion"},
		{"trailing data", `{"bomFormat":"CycloneDX","specVersion":"1.6"} {}`, "data after"},
		{"components not a list", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":{}}`, "not CycloneDX JSON"},
		{"purl not a string", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"purl":7}]}`, "not CycloneDX JSON"},
		{"not UTF-8", "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"x\":\"\xff\"}", "UTF-8"},
		{"too deep", nest(maxSBOMDepth + 2), "nested deeper"},
		{"too large", `{"bomFormat":"CycloneDX","specVersion":"1.6","x":"` + strings.Repeat("x", maxSBOMSize) + `"}`, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readSBOMPackages([]byte(tc.doc))
			if !errors.Is(err, errSBOM) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("readSBOMPackages = %v, want an unreadable-SBOM error saying %q", err, tc.why)
			}
		})
	}
	if inv, err := readSBOMPackages([]byte(nest(maxSBOMDepth))); err != nil || len(inv.packages) != 1 {
		t.Errorf("components nested %d deep: %d packages, %v; want the one package", maxSBOMDepth, len(inv.packages), err)
	}
	// Decoded parts the ledger cannot store make the component skipped, not the SBOM
	// unreadable.
	inv, err := readSBOMPackages([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
		{"purl":"pkg:npm/a%00b@1"},{"purl":"pkg:npm/ok@1"},{"purl":"pkg:npm/c@%FF"}]}`))
	if err != nil || len(inv.packages) != 1 || inv.skipped != 2 {
		t.Errorf("packages %+v, skipped %d, %v; want only pkg:npm/ok@1 and two skipped", inv.packages, inv.skipped, err)
	}
}

package ledger

import (
	"errors"
	"os"
	"testing"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/ledger"
)

// FuzzReadSBOMPackages checks that no SBOM makes the inventory reader panic, that every
// error it returns is an unreadable-SBOM error (recorded as the inventory's problem,
// never failing the scan's event), and that whatever it reads the store accepts.
func FuzzReadSBOMPackages(f *testing.F) {
	if doc, err := os.ReadFile("testdata/sbom/debian-app.cdx.json"); err == nil {
		f.Add(doc)
	}
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"purl":"pkg:npm/%40scope/a@1.0.0"}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"purl":"pkg:deb/debian/a@1?distro=debian-12&upstream=b%401"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		inv, err := readSBOMPackages(doc)
		if err != nil {
			if !errors.Is(err, errSBOM) {
				t.Fatalf("error %v is not an unreadable-SBOM error", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range inv.packages {
			if seen[p.PURL] {
				t.Fatalf("package URL %q read twice", p.PURL)
			}
			seen[p.PURL] = true
		}
		req := ledger.PutPackagesRequest{Digest: blob.Digest([]byte("artifact")), SBOMDigest: blob.Digest(doc),
			Packages: inv.packages, Skipped: inv.skipped}
		if err := req.Validate(); err != nil {
			t.Fatalf("the store refuses what was read: %v", err)
		}
	})
}

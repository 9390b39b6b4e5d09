package scanner_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/scanner"
)

// A scan publishes, beside the SBOM, a secrets report (always) and a vulnerability report
// (with a database), with their counts.
func TestScanCarriesSecretsAndVulnerabilities(t *testing.T) {
	dir := t.TempDir()
	record := `{"id":"DSA-9999-1","modified":"2024-03-01T00:00:00Z","aliases":["CVE-2099-0001"],
"affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.36-9+deb12u8"}]}]}]}`
	if err := os.WriteFile(filepath.Join(dir, "DSA-9999-1.json"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := vuln.LoadDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, nil, scanner.WithVulnDB(db))
	// A .netrc with a password, left in the image.
	img, err := mutate.AppendLayers(debianImage(t), ocitest.Layer(t, map[string]string{"root/.netrc": "machine git.example.test login ci password Zq7vR2pL9xW4\n"}))
	if err != nil {
		t.Fatal(err)
	}
	image, digest := h.push(t, "team/app", img)
	h.publishBuild(t, image, digest)
	sc, _ := h.nextScan(t)
	if sc.GetStatus() != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE || sc.GetSecretCount() != 1 || sc.GetVulnerabilityCount() != 1 ||
		sc.GetSecrets() == nil || sc.GetVulns() == nil {
		t.Fatalf("scan = %+v", sc)
	}
	doc, err := h.blobs.Get(context.Background(), sc.GetSecrets().GetDigest())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := secrets.ParsePredicate(doc)
	if err != nil || len(sp.Findings) != 1 || sp.Findings[0].Path != "/root/.netrc" {
		t.Errorf("secrets predicate %+v, %v", sp, err)
	}
	doc, err = h.blobs.Get(context.Background(), sc.GetVulns().GetDigest())
	if err != nil {
		t.Fatal(err)
	}
	vp, err := vuln.ParsePredicate(doc)
	if err != nil || len(vp.Scanner.Result) != 1 || vp.Scanner.Result[0].ID != "DSA-9999-1" {
		b, _ := json.Marshal(vp)
		t.Errorf("vulns predicate %s, %v", b, err)
	}
}

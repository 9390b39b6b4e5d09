package scan_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/custody-dev/custody/pkg/scan"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/vuln"
)

// privateKeyPEM is a fresh EC private key, made for the test.
func privateKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// A key left in one layer and deleted by the next still ships in the image: it is found,
// marked deleted, and never appears in the report or the predicate.
func TestSecretsInEveryLayer(t *testing.T) {
	deletedKey, keptKey := privateKeyPEM(t), privateKeyPEM(t)
	img, err := mutate.AppendLayers(empty.Image,
		layer(t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus("bash"), "root/.ssh/id_ecdsa": deletedKey}),
		layer(t, map[string]string{"root/.ssh/.wh.id_ecdsa": "", "srv/tls/server.key": keptKey}),
	)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newScanner(t).Image(context.Background(), img, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Secrets == nil || r.SecretCount() != 2 {
		t.Fatalf("secrets %+v, want the deleted and the kept key", r.Secrets)
	}
	got := map[string]secrets.Finding{}
	for _, f := range r.Secrets.Findings {
		got[f.Path] = f
	}
	if f, ok := got["/root/.ssh/id_ecdsa"]; !ok || !f.Deleted || f.LayerIndex != 0 || f.RuleID != "private-key" || f.Fingerprint == "" {
		t.Errorf("deleted key finding %+v", f)
	}
	if f, ok := got["/srv/tls/server.key"]; !ok || f.Deleted || f.LayerIndex != 1 {
		t.Errorf("kept key finding %+v", f)
	}
	p, err := secrets.ParsePredicate(r.SecretsPredicate)
	if err != nil || len(p.Findings) != 2 {
		t.Fatalf("predicate %+v, %v", p, err)
	}
	report, _ := json.Marshal(r)
	for _, k := range []string{deletedKey, keptKey} {
		body := strings.Split(k, "\n")[1]
		if strings.Contains(string(report), body[:16]) || strings.Contains(string(r.SecretsPredicate), body[:16]) {
			t.Error("a key's bytes appear in the report or predicate")
		}
	}
}

const osvTemplate = `{"id":%q,"modified":"2024-03-01T00:00:00Z","aliases":[%q],"summary":"test",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
"affected":[{"package":{"ecosystem":"Debian:12","name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`

func osvDir(t *testing.T, records ...[4]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range records {
		data := []byte(fmt.Sprintf(osvTemplate, r[0], r[1], r[2], r[3]))
		if err := os.WriteFile(filepath.Join(dir, r[0]+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestVulnerabilitiesAndVEX(t *testing.T) {
	db, err := vuln.LoadDB(osvDir(t,
		[4]string{"DSA-1", "CVE-2024-0001", "bash", "1.0-2"},      // bash 1.0-1 is affected
		[4]string{"DSA-2", "CVE-2024-0002", "zlib1g", "1.0-1"},    // fixed in the installed version
		[4]string{"DSA-3", "CVE-2024-0003", "coreutils", "1.0-2"}, // VEX says not_affected
	))
	if err != nil {
		t.Fatal(err)
	}
	img := debian(t, "bash", "zlib1g", "coreutils")
	ref := "registry.test/team/app@" + digestOf(t, img)
	vex, err := vuln.ParseVEX([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.test/vex/1",
"author":"security@example.test","timestamp":"2024-04-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2024-0003"},"products":[{"@id":"` + digestOf(t, img) + `"}],
"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := newScanner(t, scan.WithVulnDB(db), scan.WithVEX(vex)).Image(context.Background(), img, ref)
	if err != nil {
		t.Fatal(err)
	}
	if r.Vulns == nil || r.VulnDB == nil || r.VulnDB.Records != 3 {
		t.Fatalf("vulns %+v db %+v", r.Vulns, r.VulnDB)
	}
	var got []string
	for _, f := range r.Vulns.Findings {
		got = append(got, f.ID+" "+f.Name+" "+f.Status)
	}
	slices.Sort(got)
	want := []string{"DSA-1 bash affected", "DSA-3 coreutils not_affected"}
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	if r.AffectedCount() != 1 {
		t.Errorf("affected count %d, want 1", r.AffectedCount())
	}
	p, err := vuln.ParsePredicate(r.VulnsPredicate)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Scanner.Result) != 2 || p.Scanner.DB.URI == "" || p.Scanner.URI != scan.ScannerURI {
		t.Errorf("predicate %+v", p.Scanner)
	}

	// An empty database makes no report either, and says why.
	r, err = newScanner(t, scan.WithVulnDB(vuln.NewDB())).Image(context.Background(), img, ref)
	if err != nil {
		t.Fatal(err)
	}
	if r.Vulns != nil || r.VulnsPredicate != nil || r.VulnDB == nil || r.VulnDB.Records != 0 {
		t.Errorf("empty database: vulns %+v db %+v", r.Vulns, r.VulnDB)
	}

	// Without a database nothing is claimed about vulnerabilities.
	r, err = newScanner(t).Image(context.Background(), img, ref)
	if err != nil {
		t.Fatal(err)
	}
	if r.Vulns != nil || r.VulnsPredicate != nil {
		t.Error("a vulnerability report without a database")
	}
}

package cli

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/vuln"
)

// testOSV is an OSV record for package name in ecosystem, fixed in 2.0.0.
func testOSV(id, modified, ecosystem, name string) string {
	return fmt.Sprintf(`{
  "id": %q,
  "modified": %q,
  "aliases": ["CVE-2024-%s"],
  "summary": "test vulnerability",
  "affected": [{"package": {"ecosystem": %q, "name": %q},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0.0"}]}]}]
}`, id, modified, strings.TrimPrefix(id, "T-"), ecosystem, name)
}

// writeOSVZip writes an all.zip as OSV publishes it: one <id>.json entry per record.
func writeOSVZip(t *testing.T, n int, modified string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "all.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range n {
		eco := []string{"npm", "PyPI", "Go"}[i%3]
		id := fmt.Sprintf("T-%04d", i)
		w, err := zw.Create(id + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(testOSV(id, modified, eco, fmt.Sprintf("pkg%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVulnDBImportAndStatus(t *testing.T) {
	f := newLogFixture(t)
	zipPath := writeOSVZip(t, 1201, "2024-01-01T00:00:00Z")

	out, errOut, code := run(t, "vulndb", "import", zipPath, "--server", f.url, "--batch", "500", "-o", "json")
	if code != ExitOK {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	var rep vulndbImportReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Records != 1201 || rep.Inserted != 1201 || rep.Batches != 3 || rep.Rejected != 0 {
		t.Errorf("first import = %+v, want 1201 inserted in 3 batches", rep)
	}

	// Again: nothing changes. Newer versions of the records: all updated.
	out, errOut, code = run(t, "vulndb", "import", zipPath, "--server", f.url, "-o", "json")
	if err := json.Unmarshal([]byte(out), &rep); code != ExitOK || err != nil || rep.Unchanged != 1201 || rep.Inserted != 0 {
		t.Errorf("second import: exit %d, %+v, %s", code, rep, errOut)
	}
	newer := writeOSVZip(t, 1201, "2024-06-01T00:00:00Z")
	out, errOut, code = run(t, "vulndb", "import", newer, "--server", f.url)
	if code != ExitOK || !strings.Contains(out, "UPDATED") {
		t.Fatalf("third import: exit %d: %s %s", code, out, errOut)
	}
	if fields := strings.Fields(strings.Split(out, "\n")[1]); fields[0] != "1201" || fields[2] != "1201" {
		t.Errorf("third import table = %q, want 1201 records, 1201 updated", out)
	}

	out, errOut, code = run(t, "vulndb", "status", "--server", f.url, "-o", "json")
	if code != ExitOK {
		t.Fatalf("status exit %d: %s", code, errOut)
	}
	var st vuln.DBStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	want := []vuln.EcosystemStatus{{Ecosystem: "Go", Records: 400}, {Ecosystem: "PyPI", Records: 400}, {Ecosystem: "npm", Records: 401}}
	if st.Records != 1201 || len(st.Ecosystems) != 3 || st.Ecosystems[0] != want[0] || st.Ecosystems[1] != want[1] || st.Ecosystems[2] != want[2] ||
		st.NewestModified == nil || st.NewestModified.Month() != 6 {
		t.Errorf("status = %+v", st)
	}
	out, _, code = run(t, "vulndb", "status", "--server", f.url)
	if code != ExitOK || !strings.Contains(out, "records          1201") || !strings.Contains(out, "npm") {
		t.Errorf("status table: %s", out)
	}

	// The scanner's view: the imported records match through the ledger's API.
	src, err := vuln.NewHTTPSource(f.url, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	m, err := vuln.Match(context.Background(), src, []vuln.ScanPackage{{PURL: "pkg:npm/pkg3@1.9.0"}, {PURL: "pkg:npm/pkg3@2.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Findings) != 1 || m.Findings[0].ID != "T-0003" || m.Findings[0].Fixed[0] != "2.0.0" {
		t.Errorf("findings = %+v", m.Findings)
	}
}

func TestVulnDBImportErrors(t *testing.T) {
	f := newLogFixture(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "A-1.json"), []byte(testOSV("A-1", "2024-01-01T00:00:00Z", "npm", "a")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "B-1.json"), []byte(`{"id":"B-1","modified":"not a time"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "vulndb", "import", dir, "--server", f.url)
	if code == ExitOK || !strings.Contains(errOut, "B-1.json") {
		t.Errorf("bad record: exit %d, stderr %q; want a failure naming B-1.json", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"vulndb"}, "say what to do"},
		{[]string{"vulndb", "import"}, "exactly one PATH"},
		{[]string{"vulndb", "import", dir, "--batch", "0"}, "--batch 0"},
		{[]string{"vulndb", "import", dir, "-o", "yaml"}, "use table or json"},
		{[]string{"vulndb", "import", filepath.Join(dir, "nope")}, "no such file"},
		{[]string{"vulndb", "status", "extra"}, "no arguments"},
	} {
		_, errOut, code := run(t, append(tc.args, "--server", f.url)...)
		if code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

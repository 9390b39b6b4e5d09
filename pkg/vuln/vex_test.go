package vuln

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const testImagePURL = "pkg:oci/app@sha256%3Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?repository_url=registry.invalid/team/app"
const testImageDigest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func testReport(t *testing.T) *Report {
	t.Helper()
	db, err := LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Match(context.Background(), db, []ScanPackage{
		{PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"},
		{PURL: "pkg:pypi/jinja2@3.1.2"},
		{PURL: "pkg:golang/stdlib@go1.22.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 4 {
		t.Fatalf("findings = %+v", rep.Findings)
	}
	return rep
}

func statusOf(rep *Report, id, purlPrefix string) (string, *VEXNote) {
	for _, f := range rep.Findings {
		if f.ID == id && strings.HasPrefix(f.PURL, purlPrefix) {
			return f.Status, f.VEX
		}
	}
	return "missing", nil
}

func TestApplyVEX(t *testing.T) {
	doc, err := ParseVEX([]byte(`{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://vex.example.invalid/doc-1",
  "author": "Security Team",
  "timestamp": "2024-06-01T00:00:00Z",
  "version": 1,
  "statements": [
    {
      "vulnerability": {"name": "CVE-2024-22195"},
      "products": [{"@id": "` + testImagePURL + `", "subcomponents": [{"@id": "pkg:pypi/jinja2@3.1.2"}]}],
      "status": "not_affected",
      "justification": "vulnerable_code_not_in_execute_path"
    },
    {
      "vulnerability": {"name": "DSA-5532-1"},
      "products": [{"hashes": {"sha-256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}],
      "status": "fixed"
    },
    {
      "vulnerability": {"name": "GO-2024-2687"},
      "products": [{"@id": "pkg:golang/stdlib"}],
      "status": "not_affected",
      "impact_statement": "the binary serves no HTTP/2"
    },
    {
      "vulnerability": {"name": "GO-2024-2687"},
      "products": [{"@id": "pkg:golang/stdlib"}],
      "timestamp": "2024-07-01T00:00:00Z",
      "status": "under_investigation"
    },
    {
      "vulnerability": {"name": "DEBIAN-CVE-2024-2511"},
      "products": [{"@id": "pkg:oci/other@sha256%3Abbbb"}],
      "status": "not_affected",
      "justification": "component_not_present"
    }
  ]
}`))
	if err != nil {
		t.Fatal(err)
	}
	rep := testReport(t)
	ApplyVEX(rep, Subject{PURL: testImagePURL, Digest: testImageDigest}, doc)

	tests := []struct {
		id, purl, want string
	}{
		// By alias, image product narrowed to the package by subcomponent.
		{"GHSA-h5c8-rqwp-cp95", "pkg:pypi/jinja2", StatusNotAffected},
		// By image hash, no subcomponents: every package in the image.
		{"DSA-5532-1", "pkg:deb/", StatusFixed},
		// The later statement (by its own timestamp) wins.
		{"GO-2024-2687", "pkg:golang/stdlib", StatusUnderInvestigation},
		// A statement about another image does not apply.
		{"DEBIAN-CVE-2024-2511", "pkg:deb/", StatusAffected},
	}
	for _, tc := range tests {
		got, note := statusOf(rep, tc.id, tc.purl)
		if got != tc.want {
			t.Errorf("%s in %s: status %q, want %q", tc.id, tc.purl, got, tc.want)
		}
		if tc.want != StatusAffected && (note == nil || note.Document != "https://vex.example.invalid/doc-1") {
			t.Errorf("%s: VEX note %+v does not name the document", tc.id, note)
		}
	}
	if _, note := statusOf(rep, "GHSA-h5c8-rqwp-cp95", "pkg:pypi/"); note.Justification != "vulnerable_code_not_in_execute_path" {
		t.Errorf("justification = %q", note.Justification)
	}
	if len(rep.Findings) != 4 {
		t.Errorf("VEX removed findings: %d left", len(rep.Findings))
	}
	var counted int
	for _, f := range rep.Findings {
		if f.Affected() {
			counted++
		}
	}
	if counted != 2 {
		t.Errorf("%d findings still count, want 2", counted)
	}
}

func TestApplyVEXLaterDocumentWins(t *testing.T) {
	mk := func(id, ts, status, extra string) *VEXDocument {
		d, err := ParseVEX([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"` + id + `","author":"a","timestamp":"` + ts + `","version":1,
"statements":[{"vulnerability":{"name":"GHSA-h5c8-rqwp-cp95"},"products":[{"@id":"pkg:pypi/jinja2"}],"status":"` + status + `"` + extra + `}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	older := mk("doc-old", "2024-01-01T00:00:00Z", "not_affected", `,"justification":"component_not_present"`)
	newer := mk("doc-new", "2024-02-01T00:00:00Z", "affected", `,"action_statement":"upgrade"`)
	for _, order := range [][]*VEXDocument{{older, newer}, {newer, older}} {
		rep := testReport(t)
		ApplyVEX(rep, Subject{}, order...)
		got, note := statusOf(rep, "GHSA-h5c8-rqwp-cp95", "pkg:pypi/")
		if got != StatusAffected || note == nil || note.Document != "doc-new" {
			t.Errorf("status %q from %+v, want affected from doc-new", got, note)
		}
	}
}

func TestParseVEXRejects(t *testing.T) {
	const head = `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"d","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,"statements":[`
	tests := []struct{ name, doc, want string }{
		{"not_affected without reason", head + `{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a"}],"status":"not_affected"}]}`, "justification"},
		{"unknown justification", head + `{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a"}],"status":"not_affected","justification":"trust me"}]}`, "trust me"},
		{"unknown status", head + `{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a"}],"status":"fine"}]}`, `status "fine"`},
		{"no products", head + `{"vulnerability":{"name":"CVE-1"},"status":"fixed"}]}`, "products"},
		{"no vulnerability", head + `{"products":[{"@id":"pkg:npm/a"}],"status":"fixed"}]}`, "vulnerability.name"},
		{"wrong context", `{"@context":"https://example.invalid","@id":"d","timestamp":"2024-01-01T00:00:00Z"}`, "@context"},
		{"no timestamp", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"d"}`, "timestamp"},
		{"too large", head + strings.Repeat(" ", MaxVEXSize) + `]}`, "exceeds"},
		{"nested subcomponents", head + `{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:oci/a","subcomponents":[{"@id":"pkg:npm/b","subcomponents":[{"@id":"pkg:npm/c"}]}]}],"status":"fixed"}]}`, "nested"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseVEX([]byte(tc.doc))
			if !errors.Is(err, ErrInvalidVEX) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidVEX mentioning %q", err, tc.want)
			}
		})
	}
	// The pre-v0.2.0 string form of vulnerability is accepted.
	d, err := ParseVEX([]byte(head + `{"vulnerability":"CVE-1","products":[{"@id":"pkg:npm/a"}],"status":"fixed"}]}`))
	if err != nil || d.Statements[0].Vulnerability.Name != "CVE-1" {
		t.Errorf("string vulnerability: %v, %+v", err, d)
	}
}

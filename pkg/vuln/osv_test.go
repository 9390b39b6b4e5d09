package vuln

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "osv", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRecords(t *testing.T) {
	r, err := Parse(readTestdata(t, "pypi/GHSA-h5c8-rqwp-cp95.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "GHSA-h5c8-rqwp-cp95" || len(r.Aliases) != 2 || r.Modified.IsZero() || r.Published == nil {
		t.Errorf("parsed record = %+v", r)
	}
	if got := r.Affected[0].Package.Key(); got != (PackageKey{Ecosystem: "PyPI", Name: "jinja2"}) {
		t.Errorf("key = %+v", got)
	}
	if r.IsWithdrawn() {
		t.Error("record reported withdrawn")
	}
	w, err := Parse(readTestdata(t, "pypi/PYSEC-2099-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !w.IsWithdrawn() {
		t.Error("withdrawn record not reported withdrawn")
	}
	d, err := Parse(readTestdata(t, "debian/DEBIAN-CVE-2024-2511.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Upstream) != 1 || d.Upstream[0] != "CVE-2024-2511" {
		t.Errorf("upstream = %v, want [CVE-2024-2511]", d.Upstream)
	}
}

func TestParseRejects(t *testing.T) {
	const head = `{"id":"OSV-1","modified":"2024-01-01T00:00:00Z",`
	tests := []struct {
		name, doc, wantInErr string
	}{
		{"no id", `{"modified":"2024-01-01T00:00:00Z"}`, "id: missing"},
		{"bad id", `{"id":"a b","modified":"2024-01-01T00:00:00Z"}`, "not allowed"},
		{"no modified", `{"id":"OSV-1"}`, "OSV-1: modified"},
		{"bad modified", `{"id":"OSV-1","modified":"yesterday"}`, "yesterday"},
		{"wrong type", head + `"aliases":"CVE-1"}`, `field "aliases"`},
		{"no package", head + `"affected":[{"ranges":[]}]}`, "affected[0]: package"},
		{"bad range type", head + `"affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"DATE","events":[{"introduced":"0"}]}]}]}`, `affected[0]: ranges[0]: type "DATE"`},
		{"git without repo", head + `"affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"GIT","events":[{"introduced":"0"}]}]}]}`, "requires repo"},
		{"two fields in event", head + `"affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`, "events[0]: exactly one"},
		{"no introduced", head + `"affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1"}]}]}]}`, "introduced event is required"},
		{"no events", head + `"affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[]}]}]}`, "at least one event"},
		{"long summary", head + `"summary":"` + strings.Repeat("s", MaxSummaryLength+1) + `"}`, "summary"},
		{"too many aliases", head + `"aliases":[` + strings.TrimSuffix(strings.Repeat(`"CVE-1",`, MaxAliases+1), ",") + `]}`, "aliases"},
		{"bad upstream", head + `"upstream":["CVE 1"]}`, "upstream[0]"},
		{"severity without score", head + `"severity":[{"type":"CVSS_V3"}]}`, "severity[0]"},
		{"trailing data", head + `"summary":"x"} {}`, "trailing"},
		{"not json", `<xml/>`, "invalid character"},
		{"too large", head + `"details":"` + strings.Repeat("d", MaxRecordSize) + `"}`, "exceeds the limit"},
		{"not utf-8", "{\"id\":\"\xff\"}", "UTF-8"},
		{"modified before 1970", `{"id":"OSV-1","modified":"0000-01-01T00:00:00Z"}`, "OSV-1: modified"},
		{"published after 2261", head + `"published":"2300-01-01T00:00:00Z"}`, "published"},
		{"NUL in package name", head + `"affected":[{"package":{"ecosystem":"npm","name":"a\u0000b"}}]}`, "NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("err = %v, want ErrInvalidRecord", err)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantInErr)
			}
		})
	}
}

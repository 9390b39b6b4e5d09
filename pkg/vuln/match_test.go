package vuln

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRangeSemantics(t *testing.T) {
	ev := func(kind, v string) Event {
		switch kind {
		case "i":
			return Event{Introduced: v}
		case "f":
			return Event{Fixed: v}
		case "l":
			return Event{LastAffected: v}
		}
		return Event{Limit: v}
	}
	tests := []struct {
		name    string
		eco     string
		typ     string
		events  []Event
		version string
		want    bool
	}{
		{"introduced 0, below fixed", "npm", RangeSemver, []Event{ev("i", "0"), ev("f", "1.2.0")}, "1.1.9", true},
		{"at fixed", "npm", RangeSemver, []Event{ev("i", "0"), ev("f", "1.2.0")}, "1.2.0", false},
		{"above fixed", "npm", RangeSemver, []Event{ev("i", "0"), ev("f", "1.2.0")}, "1.3.0", false},
		{"below introduced", "npm", RangeSemver, []Event{ev("i", "1.0.0"), ev("f", "1.2.0")}, "0.9.0", false},
		{"at introduced", "npm", RangeSemver, []Event{ev("i", "1.0.0"), ev("f", "1.2.0")}, "1.0.0", true},
		{"prerelease of fixed", "npm", RangeSemver, []Event{ev("i", "0"), ev("f", "1.2.0")}, "1.2.0-rc.1", true},
		{"last_affected equal", "npm", RangeSemver, []Event{ev("i", "1.0.0"), ev("l", "1.5.0")}, "1.5.0", true},
		{"last_affected above", "npm", RangeSemver, []Event{ev("i", "1.0.0"), ev("l", "1.5.0")}, "1.5.1", false},
		{"two ranges, gap", "Go", RangeSemver, []Event{ev("i", "0"), ev("f", "1.21.9"), ev("i", "1.22.0-0"), ev("f", "1.22.2")}, "1.21.10", false},
		{"two ranges, second", "Go", RangeSemver, []Event{ev("i", "0"), ev("f", "1.21.9"), ev("i", "1.22.0-0"), ev("f", "1.22.2")}, "v1.22.1", true},
		{"events out of order", "Go", RangeSemver, []Event{ev("f", "1.22.2"), ev("i", "1.22.0-0"), ev("f", "1.21.9"), ev("i", "0")}, "1.21.8", true},
		{"introduced only", "PyPI", RangeEcosystem, []Event{ev("i", "2.0")}, "3.0", true},
		{"limit below", "npm", RangeSemver, []Event{ev("i", "0"), ev("lim", "2.0.0")}, "1.0.0", true},
		{"limit reached", "npm", RangeSemver, []Event{ev("i", "0"), ev("lim", "2.0.0")}, "2.0.0", false},
		{"limit star", "npm", RangeSemver, []Event{ev("i", "0"), ev("lim", "*")}, "9.0.0", true},
		{"debian tilde fixed", "Debian:12", RangeEcosystem, []Event{ev("i", "0"), ev("f", "3.0.11-1~deb12u2")}, "3.0.11-1~deb12u1", true},
		{"debian security update", "Debian:12", RangeEcosystem, []Event{ev("i", "0"), ev("f", "3.0.11-1~deb12u2")}, "3.0.11-1~deb12u2", false},
		{"debian epoch", "Debian:12", RangeEcosystem, []Event{ev("i", "0"), ev("f", "2.0-1")}, "1:1.0-1", false},
		{"pypi post release fixes", "PyPI", RangeEcosystem, []Event{ev("i", "0"), ev("f", "1.0.post1")}, "1.0", true},
		{"pypi rc before fix", "PyPI", RangeEcosystem, []Event{ev("i", "1.0rc1"), ev("f", "1.0")}, "1.0rc2", true},
		{"maven snapshot", "Maven", RangeEcosystem, []Event{ev("i", "0"), ev("f", "2.15.0")}, "2.15.0-SNAPSHOT", true},
		{"alpine revision", "Alpine:v3.19", RangeEcosystem, []Event{ev("i", "0"), ev("f", "3.1.4-r6")}, "3.1.4-r5", true},
		{"rpm epoch", "Red Hat:enterprise_linux:9", RangeEcosystem, []Event{ev("i", "0"), ev("f", "1:3.0.7-27.el9")}, "3.0.7-28.el9", true},
		{"git range ignored", "npm", RangeGit, []Event{ev("i", "0")}, "1.0.0", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVersion(tc.eco, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			a := &Affected{Package: Package{Ecosystem: tc.eco, Name: "p"}, Ranges: []Range{{Type: tc.typ, Repo: "https://example.invalid/r", Events: tc.events}}}
			if got := affects(a, tc.eco, v); got != tc.want {
				t.Errorf("affects(%s) = %v, want %v", tc.version, got, tc.want)
			}
		})
	}
}

func TestExplicitVersions(t *testing.T) {
	a := &Affected{Package: Package{Ecosystem: "PyPI", Name: "p"}, Versions: []string{"1.0", "1.1"}}
	for v, want := range map[string]bool{"1.0.0": true, "1.1": true, "1.2": false} {
		pv, err := ParseVersion("PyPI", v)
		if err != nil {
			t.Fatal(err)
		}
		if got := affects(a, "PyPI", pv); got != want {
			t.Errorf("affects(%s) = %v, want %v", v, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	db, err := LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := []ScanPackage{
		{PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"},
		{PURL: "pkg:deb/debian/openssl@3.0.14-1~deb12u1?arch=amd64&distro=debian-12"},
		{PURL: "pkg:pypi/jinja2@3.1.2"},
		{PURL: "pkg:pypi/jinja2@3.1.3"},
		{PURL: "pkg:golang/stdlib@go1.22.1"},
		{PURL: "pkg:golang/golang.org/x/net@v0.22.0"},
		{PURL: "pkg:generic/thing@1.0"},
		{PURL: "x", Ecosystem: "Hackage2", Name: "text", Version: "1.0"},
	}
	rep, err := Match(context.Background(), db, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	type brief struct {
		PURL, ID, Rating string
		Fixed            []string
	}
	var got []brief
	for _, f := range rep.Findings {
		got = append(got, brief{f.PURL, f.ID, f.Severity.Rating, f.Fixed})
		if f.Status != StatusAffected {
			t.Errorf("%s %s: status %q", f.PURL, f.ID, f.Status)
		}
	}
	want := []brief{
		{"pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl", "DEBIAN-CVE-2024-2511", RatingMedium, []string{"3.0.14-1~deb12u1"}},
		{"pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl", "DSA-5532-1", RatingUnknown, []string{"3.0.11-1~deb12u2"}},
		{"pkg:golang/golang.org/x/net@v0.22.0", "GO-2024-2687", RatingUnknown, []string{"0.23.0"}},
		{"pkg:golang/stdlib@go1.22.1", "GO-2024-2687", RatingUnknown, []string{"1.21.9", "1.22.2"}},
		{"pkg:pypi/jinja2@3.1.2", "GHSA-h5c8-rqwp-cp95", RatingMedium, []string{"3.1.3"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if rep.Packages != len(pkgs) || len(rep.Unmatchable) != 2 {
		t.Errorf("packages %d, unmatchable %+v", rep.Packages, rep.Unmatchable)
	}
	ghsa := rep.Findings[4]
	if ghsa.Severity.Vector == "" || ghsa.Severity.Base != 5.4 || !slices.Contains(ghsa.Aliases, "CVE-2024-22195") {
		t.Errorf("GHSA finding = %+v", ghsa)
	}
}

func TestDBKeepsNewest(t *testing.T) {
	mk := func(mod string, fixed string) *Record {
		ts, _ := time.Parse(time.RFC3339, mod)
		return &Record{ID: "OSV-1", Modified: ts, Affected: []Affected{{
			Package: Package{Ecosystem: "npm", Name: "p"},
			Ranges:  []Range{{Type: RangeSemver, Events: []Event{{Introduced: "0"}, {Fixed: fixed}}}},
		}}}
	}
	db := NewDB()
	if !db.Add(mk("2024-01-02T00:00:00Z", "2.0.0")) || db.Add(mk("2024-01-01T00:00:00Z", "1.0.0")) {
		t.Fatal("Add: an older record replaced a newer one, or the first was refused")
	}
	rep, err := Match(context.Background(), db, []ScanPackage{{PURL: "pkg:npm/p@1.5.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("findings = %+v, want the newer record's range to match", rep.Findings)
	}
}

func TestDBInfo(t *testing.T) {
	db, err := LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	info, err := db.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Records != int64(db.Len()) || info.Records == 0 || info.LastUpdate.IsZero() ||
		!strings.HasPrefix(info.URI, "file:///") || !strings.HasSuffix(info.URI, "testdata/osv") || !strings.Contains(info.Version, "records") {
		t.Errorf("info %+v", info)
	}
	empty, _ := NewDB().Info(context.Background())
	if empty.Records != 0 || !empty.LastUpdate.IsZero() {
		t.Errorf("empty info %+v", empty)
	}
}

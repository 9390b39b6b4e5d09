package ledger

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
)

// A record's ecosystem covers packages recorded in it or in any ecosystem it extends
// after a ':' (vuln.EcosystemMatches): the candidates are looked up in all of those.
func TestRecordStreams(t *testing.T) {
	rec := func(id string, withdrawn bool, pkgs ...vuln.Package) *vuln.Record {
		r := &vuln.Record{ID: id}
		for _, p := range pkgs {
			r.Affected = append(r.Affected, vuln.Affected{Package: p})
		}
		if withdrawn {
			when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			r.Withdrawn = &when
		}
		return r
	}
	streams, err := recordStreams(ledger.FindPackagesRequest{Scope: ledger.AllRepositories()}, []*vuln.Record{
		rec("UBUNTU-1", false, vuln.Package{Ecosystem: "Ubuntu:22.04:LTS", Name: "openssl"},
			vuln.Package{Ecosystem: "Ubuntu:Pro:20.04:LTS", Name: "openssl"}),
		rec("RHSA-1", false, vuln.Package{Ecosystem: "Red Hat:enterprise_linux:9::appstream", Name: "openssl"}),
		rec("PYSEC-1", false, vuln.Package{Ecosystem: "PyPI", Name: "Jinja2"}),
		rec("GONE-1", true, vuln.Package{Ecosystem: "npm", Name: "left-pad"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, s := range streams {
		got[s.OSVName] = append(got[s.OSVName], s.Ecosystems...)
		if !s.Scope.All || s.WithReleases {
			t.Errorf("stream %+v lost the base request or matches releases", s)
		}
	}
	want := map[string][]string{
		"jinja2": {"PyPI"},
		"openssl": {"Red Hat", "Red Hat:enterprise_linux", "Red Hat:enterprise_linux:9", "Red Hat:enterprise_linux:9:",
			"Red Hat:enterprise_linux:9::appstream", "Ubuntu", "Ubuntu:22.04", "Ubuntu:22.04:LTS", "Ubuntu:Pro",
			"Ubuntu:Pro:20.04", "Ubuntu:Pro:20.04:LTS"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ecosystems looked up per name (-want +got):\n%s", diff)
	}
	for _, ecos := range got {
		for _, e := range ecos {
			if !vuln.EcosystemMatches(e, "Ubuntu:22.04:LTS") && !vuln.EcosystemMatches(e, "Red Hat:enterprise_linux:9::appstream") &&
				!vuln.EcosystemMatches(e, "Ubuntu:Pro:20.04:LTS") && !vuln.EcosystemMatches(e, "PyPI") {
				t.Errorf("%q is looked up, but no record's ecosystem covers it", e)
			}
		}
	}
}

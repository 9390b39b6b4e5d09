package pages

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzPageQueries feeds the pages' query strings (untrusted: anyone with a session can
// type one) to every parser: none may panic, and whatever they accept is bounded, valid
// UTF-8 without control characters, and a well-formed request.
func FuzzPageQueries(f *testing.F) {
	for _, seed := range []string{
		"", "source=https%3A%2F%2Fgit.example%2Fapp&status=denied&since=2026-03-01&until=2026-03-02T10:00",
		"since=2026-03-01T10:00:00Z&until=2026-03-01T09:00:00%2B02:00", "status=gone", "commit=a&commit=b", "commit=%zz",
		"vuln=CVE-2023-5363&promoted=on", "purl=pkg%3Adeb%2Fdebian%2Fopenssl", "ecosystem=npm&name=x&range=%3E%3D1",
		"ecosystem=npm", "vuln=a&purl=b", "page_token=%00", "artifact=reg.example%2Fapp%40sha256%3A" + strings.Repeat("a", 64),
		"vuln=%ff%fe", "since=99999-01-01", "since=0000-01-01",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		clean := func(what, v string) {
			if len(v) > maxField || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("%s %q accepted", what, v)
			}
		}
		if f, req, err := parseSearch(raw); err == nil {
			for _, v := range []string{f.Source, f.Commit, f.Builder, f.Destination, f.PageToken, req.GetPageToken()} {
				clean("search field", v)
			}
			for _, ts := range []*timestamppb.Timestamp{req.GetSince(), req.GetUntil()} {
				if ts != nil && ts.CheckValid() != nil {
					t.Fatalf("invalid time %v accepted from %q", ts, raw)
				}
			}
			if _, ok := artifactStatuses[f.Status]; !ok {
				t.Fatalf("status %q accepted", f.Status)
			}
			_ = f.next("t")
		}
		if f, req, err := parseAffected(raw); err == nil {
			for _, v := range []string{f.Vuln, f.PURL, f.Ecosystem, f.Name, f.Range, f.PageToken} {
				clean("affected field", v)
			}
			if req != nil && req.GetQuery() == nil {
				t.Fatalf("a search without a query accepted from %q", raw)
			}
			if p := req.GetPackage(); p != nil && (p.GetEcosystem() == "" || p.GetName() == "") {
				t.Fatalf("a package search without ecosystem or name accepted from %q", raw)
			}
			_ = f.next("t")
		}
		if q, err := parseQuery(raw, "artifact"); err == nil {
			if d, err := digestOf(q["artifact"]); err == nil && (len(d) != 71 || !strings.HasPrefix(d, "sha256:")) {
				t.Fatalf("digest %q accepted", d)
			}
		}
	})
}

package vuln

import (
	"context"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that whatever it accepts respects
// the bounds, and that matching an accepted record against a few packages never panics.
func FuzzParse(f *testing.F) {
	for _, n := range []string{"debian/DSA-5532-1.json", "pypi/GHSA-h5c8-rqwp-cp95.json", "go/GO-2024-2687.json"} {
		f.Add(readTestdata(f, n))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		if r.ID == "" || len(r.ID) > MaxIDLength || r.Modified.IsZero() || len(r.Affected) > MaxAffected {
			t.Fatalf("accepted a record outside the bounds: %+v", r)
		}
		db := NewDB()
		db.Add(r)
		var pkgs []ScanPackage
		for _, k := range IndexKeys(r) {
			for _, v := range []string{"0", "1.0.0", "1:2.3-4~rc1", "v1.2.3-0.20230101000000-abcdefabcdef"} {
				pkgs = append(pkgs, ScanPackage{PURL: "fuzz", Ecosystem: k.Ecosystem, Name: k.Name, Version: v})
			}
		}
		if _, err := Match(context.Background(), db, pkgs); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseVEX checks that no input makes ParseVEX panic and that an accepted document
// can be applied.
func FuzzParseVEX(f *testing.F) {
	f.Add([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"d","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,"statements":[{"vulnerability":{"name":"CVE-2024-22195","aliases":["GHSA-h5c8-rqwp-cp95"]},"products":[{"@id":"pkg:oci/app@sha256%3Aaa","subcomponents":[{"@id":"pkg:pypi/jinja2@3.1.2"}]}],"status":"not_affected","justification":"component_not_present"}]}`))
	f.Add([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"d","author":"a","timestamp":"2024-01-01T00:00:00Z","version":2,"statements":[{"vulnerability":"CVE-1","timestamp":"2024-02-01T00:00:00Z","products":[{"hashes":{"sha-256":"aa"}}],"status":"fixed"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseVEX(data)
		if err != nil {
			return
		}
		if len(d.Statements) > MaxVEXStatements {
			t.Fatalf("accepted %d statements", len(d.Statements))
		}
		rep := &Report{Findings: []Finding{
			{ID: "CVE-1", PURL: "pkg:pypi/jinja2@3.1.2", Status: StatusAffected},
			{ID: "GHSA-h5c8-rqwp-cp95", Aliases: []string{"CVE-2024-22195"}, PURL: "pkg:npm/a@1", Status: StatusAffected},
		}}
		ApplyVEX(rep, Subject{PURL: "pkg:oci/app@sha256%3Aaa", Digest: "sha256:aa"}, d)
		for _, f := range rep.Findings {
			switch f.Status {
			case StatusAffected, StatusNotAffected, StatusFixed, StatusUnderInvestigation:
			default:
				t.Fatalf("status %q", f.Status)
			}
		}
	})
}

// FuzzParsePredicate checks that no input makes ParsePredicate panic.
func FuzzParsePredicate(f *testing.F) {
	f.Add([]byte(`{"scanner":{"uri":"u","db":{"lastUpdate":"2024-01-01T00:00:00Z"},"result":[{"id":"CVE-1","severity":[{"method":"rating","score":"high"}],"annotations":[{"package":"pkg:npm/a@1","status":"affected"}]}]},"metadata":{"scanStartedOn":"2024-01-01T00:00:00Z","scanFinishedOn":"2024-01-01T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePredicate(data)
		if err != nil {
			return
		}
		for _, r := range p.Scanner.Result {
			_ = r.Rating()
			_ = r.Status()
		}
	})
}

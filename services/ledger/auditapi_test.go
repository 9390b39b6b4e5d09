package ledger_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	svc "github.com/custody-dev/custody/services/ledger"
)

// walkAPI follows nextCursor from path until the last page and returns every page.
func walkAPI[T any](t *testing.T, w *world, path string, next func(T) string) []T {
	t.Helper()
	var pages []T
	cursor := ""
	for range 50 {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var page T
		if resp := w.get(t, p, &page); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
		pages = append(pages, page)
		if cursor = next(page); cursor == "" {
			return pages
		}
	}
	t.Fatalf("GET %s: more than 50 pages", path)
	return nil
}

func artifactDigests(t *testing.T, w *world, path string) []string {
	t.Helper()
	var out []string
	for _, page := range walkAPI(t, w, path, func(p svc.ArtifactListJSON) string { return p.NextCursor }) {
		for _, a := range page.Artifacts {
			out = append(out, a.Digest)
		}
	}
	return out
}

func TestAuditAPIArtifacts(t *testing.T) {
	w := newWorld(t)
	// Every build finished at the same time: ties go by digest, descending.
	all := byDigestOrder(w.old, w.fixed, w.deb11, w.teamB, w.promoted)
	slices.Reverse(all)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?limit=2", all},
		{"?status=promoted", []string{w.promoted}},
		{"?status=pending&repository=reg.example/team-b", []string{w.teamB}},
		{"?destination=prod.example/team-a", []string{w.promoted}},
		{"?sourceRepository=https://git.example/app&builder=urn:custody:builder:test&commit=0123abc&limit=3", all},
		{"?since=2026-03-01T12:05:00Z&until=2026-03-01T12:05:00.000001Z", all},
		{"?until=2026-03-01T12:05:00Z", nil},
		{"?repository=reg.example/team-a/legacy&repository=reg.example/team-b", []string{w.teamB, w.deb11}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got := artifactDigests(t, w, "/v1/artifacts"+tc.query)
			want := slices.DeleteFunc(slices.Clone(all), func(d string) bool { return !slices.Contains(tc.want, d) })
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("artifacts (-want +got):\n%s", diff)
			}
		})
	}
	var list svc.ArtifactListJSON
	w.get(t, "/v1/artifacts?status=promoted", &list)
	if len(list.Artifacts) != 1 {
		t.Fatalf("promoted: %+v", list)
	}
	a := list.Artifacts[0]
	if a.Image != "reg.example/team-a/app@"+w.promoted || a.ScanStatus != "complete" || a.Verdict != "allowed" ||
		a.Status != "promoted" || !slices.Equal(a.DestinationImages, []string{"prod.example/team-a/app@" + w.promoted}) ||
		a.BuiltAt != "2026-03-01T12:05:00Z" || a.SourceRepository != "https://git.example/app" || a.PredicateTypes == nil {
		t.Errorf("promoted artifact = %+v", a)
	}
}

func TestAuditAPIDecisions(t *testing.T) {
	w := newWorld(t)
	var list svc.DecisionListJSON
	if resp := w.get(t, "/v1/decisions?verdict=allowed&digest="+w.promoted, &list); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(list.Decisions) != 1 || list.NextCursor != "" {
		t.Fatalf("decisions = %+v", list)
	}
	d := list.Decisions[0]
	if d.RequestID != "req-world" || d.Digest != w.promoted || d.PolicyDigest != digestOf("policy") || d.Decision != "allowed" ||
		d.Destination != "prod.example/team-a/app:1" || d.DecidedAt == "" || d.Reasons == nil {
		t.Errorf("decision = %+v", d)
	}
	for _, q := range []string{"?verdict=denied", "?repository=reg.example/team-b", "?policyDigest=" + digestOf("other"),
		"?destination=prod.example/team-b"} {
		var none svc.DecisionListJSON
		w.get(t, "/v1/decisions"+q, &none)
		if len(none.Decisions) != 0 {
			t.Errorf("%s: %+v, want none", q, none.Decisions)
		}
	}
}

func TestAuditAPIAffected(t *testing.T) {
	w := newWorld(t)
	vulnerable := byDigestOrder(w.old, w.teamB, w.promoted)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?vuln=CVE-2023-5363&limit=1", vulnerable},
		{"?vuln=GHSA-h5c8-rqwp-cp95", vulnerable},
		{"?vuln=CVE-2023-5363&promoted=true", []string{w.promoted}},
		{"?vuln=CVE-2023-5363&repository=reg.example/team-b", []string{w.teamB}},
		{"?purl=" + url.QueryEscape("pkg:deb/debian/openssl@3.0.11-1~deb12u2"), []string{w.fixed}},
		{"?purl=pkg:pypi/jinja2&limit=2", byDigestOrder(w.old, w.fixed, w.teamB, w.promoted)},
		// Every Debian release: Debian 11's openssl 1.1.1w is below too.
		{"?ecosystem=Debian&name=openssl&range=" + url.QueryEscape("<3.0.11-1~deb12u2"),
			byDigestOrder(w.old, w.deb11, w.teamB, w.promoted)},
		{"?ecosystem=Debian:12&name=openssl&range=" + url.QueryEscape("<3.0.11-1~deb12u2"), vulnerable},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var got []string
			for _, page := range walkAPI(t, w, "/v1/affected"+tc.query, func(p svc.AffectedJSON) string { return p.NextCursor }) {
				for _, a := range page.Artifacts {
					got = append(got, a.Digest)
					if a.Promoted != (a.Digest == w.promoted) || len(a.Packages) == 0 || a.Destinations == nil {
						t.Errorf("artifact %+v", a)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("affected (-want +got):\n%s", diff)
			}
		})
	}
	var doc svc.AffectedJSON
	w.get(t, "/v1/affected?vuln=CVE-2023-5363&promoted=true", &doc)
	want := svc.AffectedJSON{
		Vulnerabilities: []svc.AffectedVulnerabilityJSON{{ID: "DEBIAN-CVE-2023-5363", Aliases: []string{"CVE-2023-5363"},
			Summary: "Incorrect cipher key and IV length processing"}},
		Artifacts: []svc.AffectedArtifactJSON{{Digest: w.promoted, Image: "reg.example/team-a/app@" + w.promoted, Status: "promoted",
			Promoted: true, Destinations: []string{"prod.example/team-a/app@" + w.promoted}, Packages: []svc.AffectedPackageJSON{
				{PURL: libssl3Old, Version: "3.0.11-1~deb12u1", Ecosystem: "Debian:12", MatchedVersion: "3.0.11-1~deb12u1",
					VulnID: "DEBIAN-CVE-2023-5363", Fixed: []string{"3.0.11-1~deb12u2"}},
				{PURL: opensslOld, Version: "3.0.11-1~deb12u1", Ecosystem: "Debian:12", MatchedVersion: "3.0.11-1~deb12u1",
					VulnID: "DEBIAN-CVE-2023-5363", Fixed: []string{"3.0.11-1~deb12u2"}},
			}}},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
}

func TestAuditAPIPackages(t *testing.T) {
	w := newWorld(t)
	var inv svc.InventoryJSON
	if resp := w.get(t, "/v1/artifacts/"+w.fixed+"/packages", &inv); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var purls []string
	for _, p := range inv.Packages {
		purls = append(purls, p.PURL)
	}
	if diff := cmp.Diff([]string{opensslFixed, xnetFixed, jinjaFixed}, purls); diff != "" {
		t.Errorf("packages, by purl (-want +got):\n%s", diff)
	}
	if len(inv.SBOMs) != 1 || inv.SBOMs[0].Packages != 3 || inv.SBOMs[0].Problem != "" {
		t.Errorf("SBOMs = %+v", inv.SBOMs)
	}
}

func TestAuditAPIRejects(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		method, path string
		status       int
		errorHas     string
	}{
		{"GET", "/v1/artifacts?status=shipped", 400, "parameter status"},
		{"GET", "/v1/artifacts?limit=0", 400, "parameter limit"},
		{"GET", "/v1/artifacts?limit=501", 400, "parameter limit"},
		{"GET", "/v1/artifacts?limit=ten", 400, "parameter limit"},
		{"GET", "/v1/artifacts?since=yesterday", 400, "parameter since"},
		{"GET", "/v1/artifacts?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", 400, "since"},
		{"GET", "/v1/artifacts?sourceRepo=x", 400, `unknown parameter "sourceRepo"`},
		{"GET", "/v1/artifacts?commit=a&commit=b", 400, "parameter commit is given 2 times"},
		{"GET", "/v1/artifacts?cursor=garbage", 400, "cursor"},
		{"GET", "/v1/artifacts?repository=reg.example/app:1", 400, "parameter repository"},
		{"GET", "/v1/artifacts?destination=prod.example/app@sha256:00", 400, "parameter destination"},
		{"GET", "/v1/artifacts?commit=%00", 400, "parameter commit"},
		{"GET", "/v1/artifacts?%zz", 400, "query string"},
		{"GET", "/v1/decisions?verdict=maybe", 400, "parameter verdict"},
		{"GET", "/v1/decisions?digest=latest", 400, "parameter digest"},
		{"GET", "/v1/decisions?policyDigest=prod", 400, "parameter policyDigest"},
		{"GET", "/v1/affected", 400, "exactly one of vuln, purl"},
		{"GET", "/v1/affected?vuln=CVE-2099-0001", 404, "CVE-2099-0001"},
		{"GET", "/v1/affected?vuln=CVE%202099", 400, "vuln"},
		{"GET", "/v1/affected?purl=openssl", 400, "purl"},
		{"GET", "/v1/affected?ecosystem=PyPI&name=jinja2", 400, "range"},
		{"GET", "/v1/affected?ecosystem=Cobol&name=x&range=<1", 400, "ecosystem"},
		{"GET", "/v1/affected?vuln=CVE-2023-5363&promoted=yes", 400, "parameter promoted"},
		{"GET", "/v1/affected?vuln=CVE-2023-5363&limit=1000", 400, "parameter limit"},
		{"GET", "/v1/affected?vuln=CVE-2023-5363&cursor=AAAA", 400, "cursor"},
		{"POST", "/v1/affected?vuln=CVE-2023-5363", 405, "method not allowed"},
		{"DELETE", "/v1/artifacts", 405, "method not allowed"},
		{"GET", "/v1/artifacts/sha256:00/packages", 400, "sha256:<64 lowercase hex>"},
		{"GET", "/v1/artifacts/" + w.old + "/packages?x=1", 400, "no parameters"},
		{"GET", "/v1/artifacts?q=" + strings.Repeat("x", 9000), 400, "query string is longer"},
	} {
		t.Run(tc.method+" "+tc.path[:min(len(tc.path), 60)], func(t *testing.T) {
			req, err := http.NewRequest(tc.method, w.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != tc.status || !strings.Contains(e.Error, tc.errorHas) {
				t.Errorf("%d %s, want %d saying %q", resp.StatusCode, body, tc.status, tc.errorHas)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

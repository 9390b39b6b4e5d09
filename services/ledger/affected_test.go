package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	svc "github.com/custody-dev/custody/services/ledger"
)

// Package URLs of the affected-by world, as syft writes them.
const (
	libssl3Old   = "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"
	opensslOld   = "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12"
	opensslFixed = "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
	opensslDeb11 = "pkg:deb/debian/openssl@1.1.1w-0+deb11u1?arch=amd64&distro=debian-11"
	jinjaOld     = "pkg:pypi/jinja2@3.1.2"
	jinjaFixed   = "pkg:pypi/jinja2@3.1.3"
	xnetOld      = "pkg:golang/golang.org/x/net@v0.17.0"
	xnetFixed    = "pkg:golang/golang.org/x/net@v0.23.0"
)

// world is an affected-by fixture built through the ledger: a vulnerability database
// imported over its API from OSV records, and artifacts built, scanned (with CycloneDX
// SBOMs in the blob store) and promoted by events on the bus.
type world struct {
	*fixture
	// old: vulnerable packages; fixed: the same at fixed versions; deb11: Debian 11's
	// openssl, which no record names; teamB: like old, in another team's repository;
	// promoted: like old, promoted to production.
	old, fixed, deb11, teamB, promoted string
}

func sbomOf(purls ...string) []byte {
	type component struct {
		Type string `json:"type"`
		Name string `json:"name"`
		PURL string `json:"purl"`
	}
	doc := struct {
		BOMFormat   string      `json:"bomFormat"`
		SpecVersion string      `json:"specVersion"`
		Components  []component `json:"components"`
	}{BOMFormat: "CycloneDX", SpecVersion: "1.6"}
	for _, p := range purls {
		doc.Components = append(doc.Components, component{Type: "library", Name: p, PURL: p})
	}
	b, _ := json.Marshal(doc)
	return b
}

func newWorld(t *testing.T) *world { return newWorldWith(t, nil, "") }

// newWorldWith is newWorld on newFixtureWith(t, wrap, opts...); its vulnerability
// database is imported with adminToken when it is not empty.
func newWorldWith(t *testing.T, wrap func(http.Handler) http.Handler, adminToken string, opts ...svc.Option) *world {
	t.Helper()
	w := &world{fixture: newFixtureWith(t, wrap, opts...),
		old: digestOf("world old"), fixed: digestOf("world fixed"), deb11: digestOf("world deb11"),
		teamB: digestOf("world team-b"), promoted: digestOf("world promoted"),
	}
	files, err := filepath.Glob("testdata/osv/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("OSV records: %v", err)
	}
	var recs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, string(b))
	}
	status, body := postWith(t, w.srv.URL+vuln.PathRecords, "application/json", "["+strings.Join(recs, ",")+"]", adminToken)
	if status != http.StatusOK || !strings.Contains(string(body), `"inserted":6`) {
		t.Fatalf("import: %d %s", status, body)
	}
	ctx := context.Background()
	vulnerable := []string{libssl3Old, opensslOld, jinjaOld, xnetOld}
	for _, a := range []struct {
		digest, image string
		purls         []string
	}{
		{w.old, "reg.example/team-a/app", vulnerable},
		{w.fixed, "reg.example/team-a/app", []string{opensslFixed, jinjaFixed, xnetFixed}},
		{w.deb11, "reg.example/team-a/legacy", []string{opensslDeb11}},
		{w.teamB, "reg.example/team-b/app", vulnerable},
		{w.promoted, "reg.example/team-a/app", vulnerable},
	} {
		b := buildEvent(a.digest)
		b.Image = a.image + "@" + a.digest
		w.publish(t, ctx, events.Event{Type: events.TypeBuildCompleted, Subject: a.digest, Data: b})
		w.scanned(t, a.digest, eventsv1.ScanStatus_SCAN_STATUS_COMPLETE, sbomOf(a.purls...), "")
	}
	image := "reg.example/team-a/app@" + w.promoted
	for _, m := range []struct {
		typ string
		msg proto.Message
	}{
		{events.TypePromotionRequested, &eventsv1.PromotionRequested{RequestId: "req-world", Image: image, Digest: w.promoted,
			Destination: "prod.example/team-a/app:1", RequestedBy: "alice"}},
		{events.TypePromotionDecided, &eventsv1.PromotionDecided{RequestId: "req-world", Image: image, Digest: w.promoted,
			Destination: "prod.example/team-a/app:1", Decision: eventsv1.Decision_DECISION_ALLOWED, PolicyDigest: digestOf("policy")}},
		{events.TypePromotionCompleted, &eventsv1.PromotionCompleted{RequestId: "req-world", Image: image, Digest: w.promoted,
			Destination: "prod.example/team-a/app:1", DestinationImage: "prod.example/team-a/app@" + w.promoted}},
	} {
		w.publish(t, ctx, events.Event{Type: m.typ, Subject: w.promoted, Data: m.msg})
	}
	w.waitIdle(t)
	return w
}

// affected runs an unscoped query (unless req names a scope) and fails on error.
func (w *world) affected(t *testing.T, req svc.AffectedRequest) svc.AffectedResponse {
	t.Helper()
	if !req.Scope.All && len(req.Scope.RepositoryPrefixes) == 0 {
		req.Scope = ledger.AllRepositories()
	}
	resp, err := svc.Affected(context.Background(), w.store, req)
	if err != nil {
		t.Fatalf("Affected(%+v): %v", req, err)
	}
	return resp
}

// matches renders the answer as digest → "purl vuln-id fixed..." lines.
func matches(resp svc.AffectedResponse) map[string][]string {
	out := map[string][]string{}
	for _, a := range resp.Artifacts {
		for _, p := range a.Packages {
			out[a.Digest] = append(out[a.Digest], strings.TrimSpace(strings.Join(append([]string{p.PURL, p.VulnID}, p.Fixed...), " ")))
		}
	}
	return out
}

func byDigestOrder(digests ...string) []string {
	slices.Sort(digests)
	return digests
}

func digestsOf(resp svc.AffectedResponse) []string {
	out := []string{}
	for _, a := range resp.Artifacts {
		out = append(out, a.Digest)
	}
	return out
}

func TestAffectedByVulnerabilityID(t *testing.T) {
	w := newWorld(t)
	openssl := func(id string) []string {
		return []string{libssl3Old + " " + id + " 3.0.11-1~deb12u2", opensslOld + " " + id + " 3.0.11-1~deb12u2"}
	}
	jinja := []string{jinjaOld + " GHSA-h5c8-rqwp-cp95 3.1.3", jinjaOld + " PYSEC-2024-9 3.1.3"}
	xnet := []string{xnetOld + " GO-2024-2687 0.23.0"}
	vulnerable := func(lines []string) map[string][]string {
		return map[string][]string{w.old: lines, w.teamB: lines, w.promoted: lines}
	}
	for _, tc := range []struct {
		name, id  string
		wantVulns []string
		want      map[string][]string
	}{
		// Debian's record of the CVE names it as its upstream; the DSA only relates to it.
		{"CVE through an upstream id", "CVE-2023-5363", []string{"DEBIAN-CVE-2023-5363"}, vulnerable(openssl("DEBIAN-CVE-2023-5363"))},
		{"CVE through aliases", "CVE-2024-22195", []string{"GHSA-h5c8-rqwp-cp95", "PYSEC-2024-9"}, vulnerable(jinja)},
		{"GHSA by its id, and the record that aliases it", "GHSA-h5c8-rqwp-cp95", []string{"GHSA-h5c8-rqwp-cp95", "PYSEC-2024-9"}, vulnerable(jinja)},
		// The Go record aliases the GHSA id; Debian's record of the CVE the Go record
		// aliases is found one step further (it names no package any artifact has).
		{"GHSA through an alias", "GHSA-4v7x-pqxf-cx7m", []string{"DEBIAN-CVE-2023-45288", "GO-2024-2687"}, vulnerable(xnet)},
		{"GHSA in lower case", "ghsa-4v7x-pqxf-cx7m", []string{"DEBIAN-CVE-2023-45288", "GO-2024-2687"}, vulnerable(xnet)},
		{"CVE in lower case", "cve-2023-45288", []string{"DEBIAN-CVE-2023-45288", "GO-2024-2687"}, vulnerable(xnet)},
		{"DSA by its id", "DSA-5532-1", []string{"DSA-5532-1"}, vulnerable(openssl("DSA-5532-1"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := w.affected(t, svc.AffectedRequest{VulnID: tc.id})
			var ids []string
			for _, v := range resp.Vulnerabilities {
				ids = append(ids, v.ID)
			}
			if diff := cmp.Diff(tc.wantVulns, ids); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			// The artifacts at fixed versions, and Debian 11's openssl, are not listed.
			if diff := cmp.Diff(tc.want, matches(resp)); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(byDigestOrder(w.old, w.teamB, w.promoted), digestsOf(resp)); diff != "" {
				t.Errorf("artifacts, by digest (-want +got):\n%s", diff)
			}
			if resp.NextCursor != "" {
				t.Errorf("one page holds everything, yet NextCursor = %q", resp.NextCursor)
			}
		})
	}
	_, err := svc.Affected(context.Background(), w.store, svc.AffectedRequest{VulnID: "CVE-2099-0001", Scope: ledger.AllRepositories()})
	if !errors.Is(err, ledger.ErrNotFound) || !strings.Contains(err.Error(), "CVE-2099-0001") {
		t.Errorf("unknown CVE: %v, want ErrNotFound naming it", err)
	}
}

func TestAffectedPromotedArtifacts(t *testing.T) {
	w := newWorld(t)
	resp := w.affected(t, svc.AffectedRequest{VulnID: "CVE-2023-5363"})
	for _, a := range resp.Artifacts {
		promoted := a.Digest == w.promoted
		if a.Promoted != promoted || (a.Status == ledger.StatusPromoted) != promoted {
			t.Errorf("%s: promoted %v, status %s; want promoted %v", a.Digest, a.Promoted, a.Status, promoted)
		}
		wantDest := []string{}
		if promoted {
			wantDest = []string{"prod.example/team-a/app@" + w.promoted}
		}
		if diff := cmp.Diff(wantDest, a.Destinations, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s destinations (-want +got):\n%s", a.Digest, diff)
		}
		if !strings.HasPrefix(a.Image, "reg.example/team-") || !strings.HasSuffix(a.Image, a.Digest) {
			t.Errorf("%s: image %q", a.Digest, a.Image)
		}
	}
	only := w.affected(t, svc.AffectedRequest{VulnID: "CVE-2023-5363", PromotedOnly: true})
	if diff := cmp.Diff([]string{w.promoted}, digestsOf(only)); diff != "" {
		t.Errorf("promoted only (-want +got):\n%s", diff)
	}
	if got := w.affected(t, svc.AffectedRequest{PURL: "pkg:pypi/jinja2@3.1.3", PromotedOnly: true}); len(got.Artifacts) != 0 {
		t.Errorf("promoted only, of a package no promoted artifact has: %v", digestsOf(got))
	}
}

func TestAffectedByPackage(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		req  svc.AffectedRequest
		want map[string][]string
	}{
		{"purl with version", svc.AffectedRequest{PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u2"},
			map[string][]string{w.fixed: {opensslFixed}}},
		{"purl without version", svc.AffectedRequest{PURL: "pkg:deb/debian/openssl"},
			map[string][]string{w.old: {opensslOld}, w.fixed: {opensslFixed}, w.deb11: {opensslDeb11}, w.teamB: {opensslOld}, w.promoted: {opensslOld}}},
		{"purl with a qualifier", svc.AffectedRequest{PURL: "pkg:deb/debian/openssl?distro=debian-11"},
			map[string][]string{w.deb11: {opensslDeb11}}},
		{"purl of another version", svc.AffectedRequest{PURL: "pkg:pypi/jinja2@3.0.0"}, map[string][]string{}},
		// Debian packages compare by source version: libssl3 is openssl's.
		{"range in every Debian release", svc.AffectedRequest{Ecosystem: "Debian", Name: "openssl", Range: ">=3.0.0, <3.0.11-1~deb12u2"},
			map[string][]string{w.old: {libssl3Old, opensslOld}, w.teamB: {libssl3Old, opensslOld}, w.promoted: {libssl3Old, opensslOld}}},
		{"range in one release", svc.AffectedRequest{Ecosystem: "Debian:11", Name: "openssl", Range: "<1.1.1w-0+deb11u2"},
			map[string][]string{w.deb11: {opensslDeb11}}},
		// In dpkg's order a tilde sorts before anything: 3.0.11-1~deb12u2 < 3.0.11-1,
		// although it is the longer string.
		{"range by the ecosystem's order", svc.AffectedRequest{Ecosystem: "Debian:12", Name: "openssl", Range: "<3.0.11-1"},
			map[string][]string{w.old: {libssl3Old, opensslOld}, w.fixed: {opensslFixed}, w.teamB: {libssl3Old, opensslOld},
				w.promoted: {libssl3Old, opensslOld}}},
		{"range above", svc.AffectedRequest{Ecosystem: "Debian:12", Name: "openssl", Range: ">3.0.11-1~deb12u1"},
			map[string][]string{w.fixed: {opensslFixed}}},
		{"range of a normalised name", svc.AffectedRequest{Ecosystem: "PyPI", Name: "Jinja2", Range: "=3.1.3"},
			map[string][]string{w.fixed: {jinjaFixed}}},
		{"range below", svc.AffectedRequest{Ecosystem: "PyPI", Name: "jinja2", Range: "<3.1.3"},
			map[string][]string{w.old: {jinjaOld}, w.teamB: {jinjaOld}, w.promoted: {jinjaOld}}},
		{"range that excludes", svc.AffectedRequest{Ecosystem: "Go", Name: "golang.org/x/net", Range: ">=0.0.0,!=0.17.0"},
			map[string][]string{w.fixed: {xnetFixed}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := matches(w.affected(t, tc.req))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAffectedScope(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		prefixes []string
		want     []string
	}{
		{[]string{"reg.example/team-b"}, []string{w.teamB}},
		{[]string{"reg.example/team-a"}, byDigestOrder(w.old, w.promoted)},
		{[]string{"reg.example/team"}, []string{}},
		{[]string{"other.example"}, []string{}},
		{[]string{"reg.example/team-b", "reg.example/team-a/app"}, byDigestOrder(w.old, w.teamB, w.promoted)},
	} {
		resp := w.affected(t, svc.AffectedRequest{VulnID: "CVE-2023-5363", Scope: ledger.RepositoryScope(tc.prefixes...)})
		if diff := cmp.Diff(tc.want, digestsOf(resp)); diff != "" {
			t.Errorf("scope %v (-want +got):\n%s", tc.prefixes, diff)
		}
	}
}

func TestAffectedPagination(t *testing.T) {
	w := newWorld(t)
	want := byDigestOrder(w.old, w.teamB, w.promoted)
	walk := func(t *testing.T, req svc.AffectedRequest) []string {
		t.Helper()
		got := []string{}
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatal("more than 50 pages")
			}
			resp := w.affected(t, req)
			if len(resp.Artifacts) > req.PageSize() {
				t.Fatalf("a page of %d artifacts, limit %d", len(resp.Artifacts), req.PageSize())
			}
			got = append(got, digestsOf(resp)...)
			if resp.NextCursor == "" {
				return got
			}
			req.Cursor = resp.NextCursor
		}
	}
	for _, req := range []svc.AffectedRequest{
		{VulnID: "CVE-2023-5363", Limit: 1},
		{VulnID: "CVE-2024-22195", Limit: 2},
		{PURL: "pkg:deb/debian/libssl3", Limit: 1},
	} {
		if diff := cmp.Diff(want, walk(t, req)); diff != "" {
			t.Errorf("walk of %+v (-want +got):\n%s", req, diff)
		}
	}
	// With a budget of one candidate per call, calls stop after each artifact decided,
	// affected or not; the walk still sees every affected artifact once.
	defer svc.SetAffectedBudget(1)()
	all := byDigestOrder(w.old, w.fixed, w.deb11, w.teamB, w.promoted)
	if diff := cmp.Diff(all, walk(t, svc.AffectedRequest{PURL: "pkg:deb/debian/openssl", Limit: 10})); diff != "" {
		t.Errorf("walk within a budget (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, walk(t, svc.AffectedRequest{VulnID: "CVE-2023-5363", Limit: 10})); diff != "" {
		t.Errorf("walk within a budget (-want +got):\n%s", diff)
	}
}

func TestAffectedRejects(t *testing.T) {
	w := newWorld(t)
	first := w.affected(t, svc.AffectedRequest{VulnID: "CVE-2023-5363", Limit: 1})
	if first.NextCursor == "" {
		t.Fatal("no cursor")
	}
	all := ledger.AllRepositories()
	for name, tc := range map[string]struct {
		req svc.AffectedRequest
		why string
	}{
		"nothing asked":          {svc.AffectedRequest{Scope: all}, "exactly one of"},
		"two questions":          {svc.AffectedRequest{VulnID: "CVE-1", PURL: "pkg:npm/a", Scope: all}, "exactly one of"},
		"bad id":                 {svc.AffectedRequest{VulnID: "CVE 2023", Scope: all}, "vuln"},
		"bad purl":               {svc.AffectedRequest{PURL: "openssl@3", Scope: all}, "purl"},
		"range without name":     {svc.AffectedRequest{Ecosystem: "PyPI", Range: "<1", Scope: all}, "name"},
		"range without range":    {svc.AffectedRequest{Ecosystem: "PyPI", Name: "jinja2", Scope: all}, "range"},
		"unknown ecosystem":      {svc.AffectedRequest{Ecosystem: "Nope", Name: "x", Range: "<1", Scope: all}, "ecosystem"},
		"range without operator": {svc.AffectedRequest{Ecosystem: "PyPI", Name: "x", Range: "1.0", Scope: all}, "operator"},
		"range of a bad version": {svc.AffectedRequest{Ecosystem: "Debian", Name: "x", Range: "<:::", Scope: all}, "range"},
		"limit":                  {svc.AffectedRequest{VulnID: "CVE-1", Limit: svc.MaxAffectedLimit + 1, Scope: all}, "limit"},
		"no scope":               {svc.AffectedRequest{VulnID: "CVE-1"}, "scope"},
		"tampered cursor":        {svc.AffectedRequest{VulnID: "CVE-2023-5363", Cursor: first.NextCursor[:10] + "x" + first.NextCursor[11:], Scope: all}, "cursor"},
		"another query's cursor": {svc.AffectedRequest{VulnID: "CVE-2024-22195", Cursor: first.NextCursor, Scope: all}, "other filters"},
		"another scope's cursor": {svc.AffectedRequest{VulnID: "CVE-2023-5363", Cursor: first.NextCursor,
			Scope: ledger.RepositoryScope("reg.example")}, "other filters"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := svc.Affected(context.Background(), w.store, tc.req)
			if !errors.Is(err, ledger.ErrInvalid) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("Affected = %v, want ErrInvalid saying %q", err, tc.why)
			}
		})
	}
}

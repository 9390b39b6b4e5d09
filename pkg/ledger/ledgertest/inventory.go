package ledgertest

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/custody-dev/custody/pkg/ledger"
)

// debPackage is a Debian binary package as pkg/sbom and pkg/vuln describe it: OSV keys
// it by its source package and source version.
func debPackage(name, version, release, source string) ledger.Package {
	return ledger.Package{
		PURL: "pkg:deb/debian/" + name + "@" + version + "?arch=amd64&distro=debian-" + release + "&upstream=" + source,
		Type: "deb", Namespace: "debian", Name: name, Version: version,
		Ecosystem: "Debian:" + release, OSVName: source, OSVVersion: version,
	}
}

func apkPackage(name, version string) ledger.Package {
	return ledger.Package{
		PURL: "pkg:apk/alpine/" + name + "@" + version + "?distro=alpine-3.19.1", Type: "apk", Namespace: "alpine",
		Name: name, Version: version, Ecosystem: "Alpine:v3.19", OSVName: name, OSVVersion: version,
	}
}

func pypiPackage(name, version string) ledger.Package {
	return ledger.Package{
		PURL: "pkg:pypi/" + name + "@" + version, Type: "pypi", Name: name, Version: version,
		Ecosystem: "PyPI", OSVName: strings.ToLower(name), OSVVersion: version,
	}
}

func putPackages(t *testing.T, s ledger.Store, digest, sbom string, pkgs ...ledger.Package) {
	t.Helper()
	if _, err := s.PutPackages(ctx(t), ledger.PutPackagesRequest{Digest: digest, SBOMDigest: sbom, Packages: pkgs}); err != nil {
		t.Fatalf("PutPackages(%s): %v", digest, err)
	}
}

var ignorePackageStoreSet = cmpopts.IgnoreFields(ledger.ArtifactPackage{}, "Seq", "RecordedAt")

func testPutPackages(t *testing.T, s ledger.Store) {
	d, sbom1, sbom2, sbom3 := Digest("inventory"), Digest("sbom 1"), Digest("sbom 2"), Digest("sbom 3")
	openssl := debPackage("openssl", "3.0.11-1~deb12u1", "12", "openssl")
	libssl := debPackage("libssl3", "3.0.11-1~deb12u1", "12", "openssl")
	req := ledger.PutPackagesRequest{Digest: d, SBOMDigest: sbom1, Packages: []ledger.Package{openssl, libssl, openssl}}
	resp, err := s.PutPackages(ctx(t), req)
	if err != nil || resp != (ledger.PutPackagesResponse{Inserted: 2, InventoryInserted: true}) {
		t.Fatalf("PutPackages = %+v, %v; want 2 inserted and a new inventory", resp, err)
	}
	resp, err = s.PutPackages(ctx(t), req)
	if err != nil || resp != (ledger.PutPackagesResponse{}) {
		t.Fatalf("PutPackages again = %+v, %v; want nothing inserted", resp, err)
	}
	unmapped := ledger.Package{PURL: "pkg:generic/busybox@1.36.1", Type: "generic", Name: "busybox", Version: "1.36.1"}
	if _, err := s.PutPackages(ctx(t), ledger.PutPackagesRequest{Digest: d, SBOMDigest: sbom2, Packages: []ledger.Package{unmapped},
		Skipped: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPackages(ctx(t), ledger.PutPackagesRequest{Digest: d, SBOMDigest: sbom3, Problem: "not CycloneDX"}); err != nil {
		t.Fatal(err)
	}
	inv, err := s.PackagesFor(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	wantPkgs := []ledger.ArtifactPackage{
		{Digest: d, SBOMDigest: sbom1, Package: libssl},
		{Digest: d, SBOMDigest: sbom1, Package: openssl},
		{Digest: d, SBOMDigest: sbom2, Package: unmapped},
	}
	if diff := cmp.Diff(wantPkgs, inv.Packages, ignorePackageStoreSet); diff != "" {
		t.Errorf("packages, by purl (-want +got):\n%s", diff)
	}
	sboms := map[string]ledger.SBOMInventory{}
	for _, si := range inv.SBOMs {
		if si.RecordedAt.IsZero() {
			t.Errorf("inventory of %s: no recording time", si.SBOMDigest)
		}
		si.RecordedAt = si.RecordedAt.UTC()
		sboms[si.SBOMDigest] = ledger.SBOMInventory{SBOMDigest: si.SBOMDigest, Packages: si.Packages, Skipped: si.Skipped, Problem: si.Problem}
	}
	wantSBOMs := map[string]ledger.SBOMInventory{
		sbom1: {SBOMDigest: sbom1, Packages: 2},
		sbom2: {SBOMDigest: sbom2, Packages: 1, Skipped: 3},
		sbom3: {SBOMDigest: sbom3, Problem: "not CycloneDX"},
	}
	if diff := cmp.Diff(wantSBOMs, sboms); diff != "" {
		t.Errorf("inventories (-want +got):\n%s", diff)
	}
	seqs := map[int64]bool{}
	for _, p := range inv.Packages {
		if seqs[p.Seq] || p.RecordedAt.IsZero() {
			t.Errorf("package %s: sequence %d repeated or no recording time", p.PURL, p.Seq)
		}
		seqs[p.Seq] = true
	}
	empty, err := s.PackagesFor(ctx(t), Digest("never scanned"))
	if err != nil || empty.SBOMs == nil || empty.Packages == nil || len(empty.SBOMs)+len(empty.Packages) != 0 {
		t.Errorf("PackagesFor(unknown) = %+v, %v; want empty lists", empty, err)
	}
	_, err = s.PackagesFor(ctx(t), "sha256:nope")
	wantErr(t, "PackagesFor(bad digest)", err, ledger.ErrInvalid)
}

func testPutPackagesInvalid(t *testing.T, s ledger.Store) {
	good := debPackage("openssl", "3.0.11-1", "12", "openssl")
	for name, mutate := range map[string]func(*ledger.PutPackagesRequest){
		"bad digest":          func(r *ledger.PutPackagesRequest) { r.Digest = "sha256:1" },
		"no SBOM digest":      func(r *ledger.PutPackagesRequest) { r.SBOMDigest = "" },
		"no purl":             func(r *ledger.PutPackagesRequest) { r.Packages[0].PURL = "" },
		"no name":             func(r *ledger.PutPackagesRequest) { r.Packages[0].Name = "" },
		"NUL in version":      func(r *ledger.PutPackagesRequest) { r.Packages[0].Version = "1\x00" },
		"huge purl":           func(r *ledger.PutPackagesRequest) { r.Packages[0].PURL = strings.Repeat("p", ledger.MaxPURL+1) },
		"half an OSV name":    func(r *ledger.PutPackagesRequest) { r.Packages[0].OSVVersion = "" },
		"negative skipped":    func(r *ledger.PutPackagesRequest) { r.Skipped = -1 },
		"problem and content": func(r *ledger.PutPackagesRequest) { r.Problem = "unreadable" },
		"too many": func(r *ledger.PutPackagesRequest) {
			r.Packages = slices.Repeat([]ledger.Package{good}, ledger.MaxInventoryPackages+1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			req := ledger.PutPackagesRequest{Digest: Digest("bad inventory"), SBOMDigest: Digest("sbom"), Packages: []ledger.Package{good}}
			mutate(&req)
			_, err := s.PutPackages(ctx(t), req)
			wantErr(t, "PutPackages", err, ledger.ErrInvalid)
		})
	}
	inv, err := s.PackagesFor(ctx(t), Digest("bad inventory"))
	if err != nil || len(inv.SBOMs) != 0 || len(inv.Packages) != 0 {
		t.Errorf("an invalid inventory was recorded: %+v, %v", inv, err)
	}
}

// findFixture records packages of five artifacts and returns their digests.
func findFixture(t *testing.T, s ledger.Store) (a, b, c, d, e string) {
	a, b, c, d, e = Digest("find a"), Digest("find b"), Digest("find c"), Digest("find d"), Digest("find e")
	putPackages(t, s, a, Digest("sbom a"), debPackage("openssl", "3.0.11-1~deb12u1", "12", "openssl"),
		debPackage("libssl3", "3.0.11-1~deb12u1", "12", "openssl"), debPackage("zlib1g", "1:1.2.13", "12", "zlib"))
	putPackages(t, s, b, Digest("sbom b"), debPackage("openssl", "3.0.11-1~deb12u2", "12", "openssl"))
	putPackages(t, s, c, Digest("sbom c"), debPackage("openssl", "1.1.1w-0+deb11u1", "11", "openssl"))
	putPackages(t, s, d, Digest("sbom d"), apkPackage("openssl", "3.1.4-r0"))
	putPackages(t, s, e, Digest("sbom e"), pypiPackage("Jinja2", "3.1.2"))
	// Images: a and b are built into two teams' repositories; c has no build, only a scan.
	for _, x := range []struct{ digest, image string }{
		{a, "reg.example/team-a/app@" + a}, {b, "reg.example/team-b/app@" + b}, {d, "reg.example/team-ab/app@" + d},
	} {
		bd := build(x.digest, "ev-build-"+x.digest)
		bd.Image = x.image
		if _, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: bd}); err != nil {
			t.Fatal(err)
		}
	}
	sc := scan(c, "ev-scan-c", at(1))
	sc.Image = "reg.example/team-a/tool@" + c
	if _, err := s.PutScan(ctx(t), ledger.PutScanRequest{Scan: sc}); err != nil {
		t.Fatal(err)
	}
	return a, b, c, d, e
}

// findAll walks every page of a FindPackages query and returns "digest purl" of each row.
func findAll(t *testing.T, s ledger.Store, req ledger.FindPackagesRequest) []string {
	t.Helper()
	var out []string
	seen := map[int64]bool{}
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("more than 100 pages")
		}
		resp, err := s.FindPackages(ctx(t), req)
		if err != nil {
			t.Fatalf("FindPackages(%+v): %v", req, err)
		}
		if resp.Packages == nil {
			t.Error("FindPackages returned a nil list")
		}
		for _, p := range resp.Packages {
			if seen[p.Seq] {
				t.Errorf("package %s (seq %d) listed twice", p.PURL, p.Seq)
			}
			seen[p.Seq] = true
			out = append(out, p.Digest+" "+p.PURL)
		}
		if resp.NextCursor == "" {
			return out
		}
		if req.Limit > 0 && len(resp.Packages) != req.Limit {
			t.Errorf("a page before the last has %d rows, want %d", len(resp.Packages), req.Limit)
		}
		req.Cursor = resp.NextCursor
	}
}

func testFindPackages(t *testing.T, s ledger.Store) {
	a, b, c, d, e := findFixture(t, s)
	row := func(digest string, p ledger.Package) string { return digest + " " + p.PURL }
	opensslA := row(a, debPackage("openssl", "3.0.11-1~deb12u1", "12", "openssl"))
	libsslA := row(a, debPackage("libssl3", "3.0.11-1~deb12u1", "12", "openssl"))
	opensslB := row(b, debPackage("openssl", "3.0.11-1~deb12u2", "12", "openssl"))
	opensslC := row(c, debPackage("openssl", "1.1.1w-0+deb11u1", "11", "openssl"))
	opensslD := row(d, apkPackage("openssl", "3.1.4-r0"))
	jinjaE := row(e, pypiPackage("Jinja2", "3.1.2"))
	// Rows come by digest, then in recording order.
	byDigest := func(rows ...string) []string {
		slices.SortStableFunc(rows, func(x, y string) int { return strings.Compare(x[:71], y[:71]) })
		return rows
	}
	all := ledger.AllRepositories()
	osv := func(name string, ecos ...string) ledger.FindPackagesRequest {
		return ledger.FindPackagesRequest{OSVName: name, Ecosystems: ecos, Scope: all}
	}
	withReleases := osv("openssl", "Debian")
	withReleases.WithReleases = true
	versioned := osv("openssl", "Debian:12")
	versioned.Version = "3.0.11-1~deb12u2"
	purl := ledger.FindPackagesRequest{PURLType: "deb", PURLNamespace: "debian", PURLName: "openssl", Scope: all}
	purlVersion := purl
	purlVersion.Version = "1.1.1w-0+deb11u1"
	after := withReleases
	after.AfterDigest = a
	scoped := withReleases
	scoped.Scope = ledger.RepositoryScope("reg.example/team-a")
	for _, tc := range []struct {
		name string
		req  ledger.FindPackagesRequest
		want []string
	}{
		{"one ecosystem", osv("openssl", "Debian:12"), byDigest(opensslA, libsslA, opensslB)},
		{"two ecosystems", osv("openssl", "Debian:12", "Alpine:v3.19"), byDigest(opensslA, libsslA, opensslB, opensslD)},
		{"with releases", withReleases, byDigest(opensslA, libsslA, opensslB, opensslC)},
		{"release prefix without releases", osv("openssl", "Debian"), nil},
		{"a prefix that is not a release", func() ledger.FindPackagesRequest {
			r := osv("openssl", "Debia")
			r.WithReleases = true
			return r
		}(), nil},
		{"OSV version", versioned, []string{opensslB}},
		{"other name", osv("jinja2", "PyPI"), []string{jinjaE}},
		{"names are not normalised by the store", osv("Jinja2", "PyPI"), nil},
		{"package URL", purl, byDigest(opensslA, opensslB, opensslC)},
		{"package URL and version", purlVersion, []string{opensslC}},
		{"after a digest", after, slices.DeleteFunc(byDigest(opensslA, libsslA, opensslB, opensslC), func(r string) bool {
			return r[:71] <= a
		})},
		// c's image comes from its scan; d's repository team-ab is not under team-a.
		{"scope", scoped, byDigest(opensslA, libsslA, opensslC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := findAll(t, s, tc.req)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			paged := tc.req
			paged.Limit = 1
			if diff := cmp.Diff(tc.want, findAll(t, s, paged), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows, one per page (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("promoted only", func(t *testing.T) {
		promoted := withReleases
		promoted.PromotedOnly = true
		if got := findAll(t, s, promoted); len(got) != 0 {
			t.Errorf("promoted only, before any promotion: %v", got)
		}
		for _, st := range []ledger.PromotionStatusValue{ledger.PromotionRequested, ledger.PromotionCompleted} {
			if _, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
				RequestID: "req-find-b", Digest: b, Status: st, DestinationImage: "prod.example/app@" + b,
			}}); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff([]string{opensslB}, findAll(t, s, promoted)); diff != "" {
			t.Errorf("promoted only (-want +got):\n%s", diff)
		}
	})

	t.Run("rows recorded during a walk", func(t *testing.T) {
		req := withReleases
		req.Limit = 2
		first, err := s.FindPackages(ctx(t), req)
		if err != nil || first.NextCursor == "" {
			t.Fatalf("first page: %+v, %v", first, err)
		}
		// A new artifact that sorts before the cursor, and one after the last.
		putPackages(t, s, "sha256:"+strings.Repeat("0", 64), Digest("sbom early"), debPackage("openssl", "3.0.0-1", "12", "openssl"))
		late := "sha256:" + strings.Repeat("f", 64)
		putPackages(t, s, late, Digest("sbom late"), debPackage("openssl", "3.0.0-1", "12", "openssl"))
		req.Cursor = first.NextCursor
		var got []string
		for _, p := range first.Packages {
			got = append(got, p.Digest+" "+p.PURL)
		}
		got = append(got, findAll(t, s, req)...)
		want := append(byDigest(opensslA, libsslA, opensslB, opensslC), row(late, debPackage("openssl", "3.0.0-1", "12", "openssl")))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("walk (-want +got):\n%s", diff)
		}
	})

	t.Run("bad cursors", func(t *testing.T) {
		req := withReleases
		req.Limit = 1
		page, err := s.FindPackages(ctx(t), req)
		if err != nil || page.NextCursor == "" {
			t.Fatalf("first page: %+v, %v", page, err)
		}
		tampered := []byte(page.NextCursor)
		tampered[len(tampered)/2] ^= 1
		other := req
		other.Ecosystems = []string{"Ubuntu"}
		for name, r := range map[string]ledger.FindPackagesRequest{
			"malformed":      withCursor(req, "not a cursor!"),
			"tampered":       withCursor(req, string(tampered)),
			"truncated":      withCursor(req, page.NextCursor[:len(page.NextCursor)-3]),
			"other filters":  withCursor(other, page.NextCursor),
			"too long":       withCursor(req, strings.Repeat("A", ledger.MaxCursor+1)),
			"empty base64":   withCursor(req, "AAAA"),
			"other listing":  withCursor(req, ledger.EncodeCursor(ledger.CursorArtifacts, nil, ledger.Position{Key: a})),
			"other scope":    withCursor(scoped, page.NextCursor),
			"more and fewer": withCursor(func() ledger.FindPackagesRequest { r := req; r.PromotedOnly = true; return r }(), page.NextCursor),
		} {
			_, err := s.FindPackages(ctx(t), r)
			wantErr(t, name, err, ledger.ErrInvalid)
		}
	})
}

func withCursor(r ledger.FindPackagesRequest, c string) ledger.FindPackagesRequest {
	r.Cursor = c
	return r
}

func testFindPackagesInvalid(t *testing.T, s ledger.Store) {
	all := ledger.AllRepositories()
	for name, req := range map[string]ledger.FindPackagesRequest{
		"nothing named":         {Scope: all},
		"both ways":             {OSVName: "openssl", Ecosystems: []string{"Debian:12"}, PURLType: "deb", PURLName: "openssl", Scope: all},
		"no ecosystem":          {OSVName: "openssl", Scope: all},
		"empty ecosystem":       {OSVName: "openssl", Ecosystems: []string{""}, Scope: all},
		"too many ecosystems":   {OSVName: "openssl", Ecosystems: slices.Repeat([]string{"npm"}, ledger.MaxFindEcosystems+1), Scope: all},
		"purl without name":     {PURLType: "deb", Scope: all},
		"purl with ecosystems":  {PURLType: "deb", PURLName: "openssl", Ecosystems: []string{"Debian"}, Scope: all},
		"no scope":              {OSVName: "openssl", Ecosystems: []string{"Debian:12"}},
		"bad scope prefix":      {OSVName: "openssl", Ecosystems: []string{"Debian:12"}, Scope: ledger.RepositoryScope("reg.example/app:1")},
		"limit too large":       {OSVName: "openssl", Ecosystems: []string{"Debian:12"}, Scope: all, Limit: ledger.MaxFindLimit + 1},
		"negative limit":        {OSVName: "openssl", Ecosystems: []string{"Debian:12"}, Scope: all, Limit: -1},
		"bad after digest":      {OSVName: "openssl", Ecosystems: []string{"Debian:12"}, Scope: all, AfterDigest: "sha256:z"},
		"NUL in name":           {OSVName: "open\x00ssl", Ecosystems: []string{"Debian:12"}, Scope: all},
		"all and some prefixes": {OSVName: "openssl", Ecosystems: []string{"Debian:12"}, Scope: ledger.Scope{All: true, RepositoryPrefixes: []string{"reg.example"}}},
	} {
		_, err := s.FindPackages(ctx(t), req)
		wantErr(t, name, err, ledger.ErrInvalid)
	}
}

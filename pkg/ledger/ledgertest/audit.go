package ledgertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/custody-dev/custody/pkg/ledger"
)

// auditBase is long before any store's clock, so that an artifact whose build names no
// time (and sorts by when it was recorded) is the newest.
var auditBase = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// tt returns auditBase plus n minutes and a few microseconds, in a non-UTC zone.
func tt(n int) time.Time {
	return auditBase.Add(time.Duration(n)*time.Minute + 4321*time.Microsecond).In(time.FixedZone("Y", -5*3600))
}

const (
	repoApp = "https://git.example/app"
	repoLib = "https://git.example/lib"
)

// audit is the fixture of the listing tests: six built artifacts a1..a6 (a6's build
// names no time and no image), a7 with only a scan, and a decision about a8, which
// nothing else names.
type audit struct{ a1, a2, a3, a4, a5, a6, a7, a8 string }

func auditFixture(t *testing.T, s ledger.Store) audit {
	t.Helper()
	f := audit{
		a1: Digest("audit a1"), a2: Digest("audit a2"), a3: Digest("audit a3"), a4: Digest("audit a4"),
		a5: Digest("audit a5"), a6: Digest("audit a6"), a7: Digest("audit a7"), a8: Digest("audit a8"),
	}
	c := ctx(t)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	putBuild := func(d, eventID, repo, commit, builder, image string, started, finished time.Time) {
		t.Helper()
		_, err := s.PutBuild(c, ledger.PutBuildRequest{Build: ledger.Build{
			Digest: d, Image: image, SourceRepository: repo, Commit: commit, BuilderID: builder,
			StartedAt: started, FinishedAt: finished, EventID: eventID,
		}})
		must("PutBuild "+eventID, err)
	}
	decide := func(d, req string, v ledger.Verdict, when time.Time, policy, dest string) {
		t.Helper()
		dec := decision(d, req, "ev-dec-"+req, v, when)
		dec.PolicyDigest, dec.Destination = Digest(policy), dest
		_, err := s.PutDecision(c, ledger.PutDecisionRequest{Decision: dec})
		must("PutDecision "+req, err)
	}
	promote := func(d, req, dest string, statuses ...ledger.PromotionStatusValue) {
		t.Helper()
		for _, st := range statuses {
			p := ledger.Promotion{RequestID: req, Digest: d, Destination: dest, Status: st}
			if st == ledger.PromotionCompleted {
				p.DestinationImage = strings.SplitN(dest, ":", 2)[0] + "@" + d
			}
			_, err := s.UpdatePromotion(c, ledger.UpdatePromotionRequest{Promotion: p})
			must("UpdatePromotion "+req, err)
		}
	}
	putScan := func(d, eventID, image string, st ledger.ScanStatus, when time.Time) {
		t.Helper()
		sc := scan(d, eventID, when)
		sc.Image, sc.Status = image, st
		_, err := s.PutScan(c, ledger.PutScanRequest{Scan: sc})
		must("PutScan "+eventID, err)
	}

	putBuild(f.a1, "ev-build-a1", repoApp, "c1", "B1", "reg.example/team-a/app@"+f.a1, tt(9), tt(10))
	// A later build of the same digest does not change what is listed: the first counts.
	putBuild(f.a1, "ev-build-a1-again", "https://git.example/other", "c1b", "B3", "reg.example/other@"+f.a1, time.Time{}, tt(5))
	for _, seed := range []string{"a1-prov", "a1-prov-2"} {
		_, err := s.PutAttestation(c, ledger.PutAttestationRequest{Attestation: attestation(f.a1, seed)})
		must("PutAttestation", err)
	}
	sbom := attestation(f.a1, "a1-sbom")
	sbom.PredicateType = "https://cyclonedx.org/bom"
	_, err := s.PutAttestation(c, ledger.PutAttestationRequest{Attestation: sbom})
	must("PutAttestation", err)
	putScan(f.a1, "ev-scan-a1-1", "", ledger.ScanFailed, tt(11))
	putScan(f.a1, "ev-scan-a1-2", "", ledger.ScanComplete, tt(12))
	decide(f.a1, "req-a1-0", ledger.Denied, tt(9), "P1", "prod.example/team-a/app:0")
	decide(f.a1, "req-a1", ledger.Allowed, tt(11), "P1", "prod.example/team-a/app:1")
	promote(f.a1, "req-a1", "prod.example/team-a/app:1", ledger.PromotionRequested, ledger.PromotionAllowed, ledger.PromotionCompleted)

	putBuild(f.a2, "ev-build-a2", repoApp, "c2", "B1", "reg.example/team-a/app@"+f.a2, time.Time{}, tt(20))
	decide(f.a2, "req-a2", ledger.Denied, tt(21), "P1", "prod.example/team-a/app:2")
	promote(f.a2, "req-a2", "prod.example/team-a/app:2", ledger.PromotionRequested, ledger.PromotionDenied)

	putBuild(f.a3, "ev-build-a3", repoLib, "c3", "B2", "reg.example/team-b/lib@"+f.a3, time.Time{}, tt(30))
	promote(f.a3, "req-a3", "prod.example/team-b/lib:3", ledger.PromotionRequested)

	putBuild(f.a4, "ev-build-a4", repoLib, "c4", "B2", "reg.example/team-b/lib@"+f.a4, tt(40), time.Time{})
	decide(f.a4, "req-a4", ledger.Allowed, tt(41), "P2", "prod.example/team-b/lib:4")
	promote(f.a4, "req-a4", "prod.example/team-b/lib:4", ledger.PromotionRequested, ledger.PromotionAllowed, ledger.PromotionFailed)

	putBuild(f.a5, "ev-build-a5", repoApp, "c5", "B1", "reg.example/team-ab/app@"+f.a5, time.Time{}, tt(50))
	decide(f.a5, "req-a5", ledger.Allowed, tt(51), "P2", "prod.example/team-ab/app:5")
	promote(f.a5, "req-a5", "prod.example/team-ab/app:5", ledger.PromotionRequested, ledger.PromotionAllowed)

	putBuild(f.a6, "ev-build-a6", repoApp, "c6", "B1", "", time.Time{}, time.Time{})
	putScan(f.a6, "ev-scan-a6", "reg.example/team-a/six@"+f.a6, ledger.ScanIncomplete, tt(61))

	putScan(f.a7, "ev-scan-a7", "reg.example/team-b/seven@"+f.a7, ledger.ScanComplete, tt(70))

	d8 := decision(f.a8, "req-a8", "ev-dec-req-a8", ledger.Denied, tt(80))
	d8.Image, d8.PolicyDigest, d8.Destination = "reg.example/team-c/eight@"+f.a8, Digest("P3"), "prod.example/team-c/eight:1"
	_, err = s.PutDecision(c, ledger.PutDecisionRequest{Decision: d8})
	must("PutDecision a8", err)
	return f
}

// listAll walks every page of a ListArtifacts query and returns the digests.
func listAll(t *testing.T, s ledger.Store, req ledger.ListArtifactsRequest) []string {
	t.Helper()
	out := []string{}
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("more than 100 pages")
		}
		resp, err := s.ListArtifacts(ctx(t), req)
		if err != nil {
			t.Fatalf("ListArtifacts(%+v): %v", req, err)
		}
		for _, a := range resp.Artifacts {
			if seen[a.Digest] {
				t.Errorf("artifact %s listed twice", a.Digest)
			}
			seen[a.Digest] = true
			out = append(out, a.Digest)
		}
		if resp.NextCursor == "" {
			return out
		}
		if len(resp.Artifacts) != req.PageSize() {
			t.Errorf("a page before the last has %d artifacts, want %d", len(resp.Artifacts), req.PageSize())
		}
		req.Cursor = resp.NextCursor
	}
}

func testListArtifacts(t *testing.T, s ledger.Store) {
	f := auditFixture(t, s)
	all := ledger.AllRepositories()
	for _, tc := range []struct {
		name string
		req  ledger.ListArtifactsRequest
		want []string
	}{
		{"everything, newest first", ledger.ListArtifactsRequest{}, []string{f.a6, f.a5, f.a4, f.a3, f.a2, f.a1}},
		{"source repository", ledger.ListArtifactsRequest{SourceRepository: repoApp}, []string{f.a6, f.a5, f.a2, f.a1}},
		{"a later build's repository", ledger.ListArtifactsRequest{SourceRepository: "https://git.example/other"}, []string{}},
		{"commit", ledger.ListArtifactsRequest{Commit: "c3"}, []string{f.a3}},
		{"builder", ledger.ListArtifactsRequest{BuilderID: "B2"}, []string{f.a4, f.a3}},
		{"time window", ledger.ListArtifactsRequest{Since: tt(20), Until: tt(40)}, []string{f.a3, f.a2}},
		{"since", ledger.ListArtifactsRequest{Since: tt(40)}, []string{f.a6, f.a5, f.a4}},
		{"until", ledger.ListArtifactsRequest{Until: tt(10).Add(time.Microsecond)}, []string{f.a1}},
		{"destination", ledger.ListArtifactsRequest{Destination: "prod.example/team-a"}, []string{f.a1}},
		{"destination registry", ledger.ListArtifactsRequest{Destination: "prod.example"}, []string{f.a1}},
		{"destination repository", ledger.ListArtifactsRequest{Destination: "prod.example/team-a/app"}, []string{f.a1}},
		{"destination of a failed promotion", ledger.ListArtifactsRequest{Destination: "prod.example/team-b"}, []string{}},
		{"destination is not a string prefix", ledger.ListArtifactsRequest{Destination: "prod.example/team"}, []string{}},
		{"promoted", ledger.ListArtifactsRequest{Status: ledger.StatusPromoted}, []string{f.a1}},
		{"denied", ledger.ListArtifactsRequest{Status: ledger.StatusDenied}, []string{f.a2}},
		{"pending", ledger.ListArtifactsRequest{Status: ledger.StatusPending}, []string{f.a6, f.a3}},
		{"failed", ledger.ListArtifactsRequest{Status: ledger.StatusFailed}, []string{f.a4}},
		{"allowed", ledger.ListArtifactsRequest{Status: ledger.StatusAllowed}, []string{f.a5}},
		{"repository and status", ledger.ListArtifactsRequest{SourceRepository: repoApp, Status: ledger.StatusDenied}, []string{f.a2}},
		{"builder and since", ledger.ListArtifactsRequest{BuilderID: "B1", Since: tt(15)}, []string{f.a6, f.a5, f.a2}},
		{"repository and until", ledger.ListArtifactsRequest{SourceRepository: repoLib, Until: tt(35)}, []string{f.a3}},
		{"status and destination", ledger.ListArtifactsRequest{Status: ledger.StatusPending, Destination: "prod.example"}, []string{}},
		// Scopes: a6's image comes from its scan; team-ab is not under team-a.
		{"scope", ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("reg.example/team-a")}, []string{f.a6, f.a2, f.a1}},
		{"scope of a sibling", ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("reg.example/team-ab")}, []string{f.a5}},
		{"scope of two", ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("reg.example/team-b", "reg.example/team-a")},
			[]string{f.a6, f.a4, f.a3, f.a2, f.a1}},
		{"scope of a repository", ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("reg.example/team-a/app")}, []string{f.a2, f.a1}},
		{"scope of a registry", ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("reg.example")},
			[]string{f.a6, f.a5, f.a4, f.a3, f.a2, f.a1}},
		{"scope elsewhere", ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("other.example")}, []string{}},
		{"scope and filter", ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("reg.example/team-a"), Status: ledger.StatusPending},
			[]string{f.a6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.req.Scope.All && len(tc.req.Scope.RepositoryPrefixes) == 0 {
				tc.req.Scope = all
			}
			if diff := cmp.Diff(tc.want, listAll(t, s, tc.req)); diff != "" {
				t.Errorf("artifacts (-want +got):\n%s", diff)
			}
			tc.req.Limit = 1
			if diff := cmp.Diff(tc.want, listAll(t, s, tc.req)); diff != "" {
				t.Errorf("artifacts, one per page (-want +got):\n%s", diff)
			}
		})
	}

	resp, err := s.ListArtifacts(ctx(t), ledger.ListArtifactsRequest{Scope: all})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ledger.ArtifactSummary{}
	for _, a := range resp.Artifacts {
		if a.RecordedAt.IsZero() {
			t.Errorf("%s: no recording time", a.Digest)
		}
		if a.PredicateTypes == nil || a.DestinationImages == nil {
			t.Errorf("%s: nil lists; want empty ones", a.Digest)
		}
		got[a.Digest] = a
	}
	want := map[string]ledger.ArtifactSummary{
		f.a1: {Digest: f.a1, Image: "reg.example/team-a/app@" + f.a1, SourceRepository: repoApp, Commit: "c1", BuilderID: "B1",
			BuiltAt: tt(10), PredicateTypes: []string{"https://cyclonedx.org/bom", "https://slsa.dev/provenance/v1"},
			ScanStatus: ledger.ScanComplete, Verdict: ledger.Allowed, Status: ledger.StatusPromoted,
			DestinationImages: []string{"prod.example/team-a/app@" + f.a1}},
		f.a4: {Digest: f.a4, Image: "reg.example/team-b/lib@" + f.a4, SourceRepository: repoLib, Commit: "c4", BuilderID: "B2",
			BuiltAt: tt(40), Verdict: ledger.Allowed, Status: ledger.StatusFailed},
		f.a6: {Digest: f.a6, Image: "reg.example/team-a/six@" + f.a6, SourceRepository: repoApp, Commit: "c6", BuilderID: "B1",
			ScanStatus: ledger.ScanIncomplete, Status: ledger.StatusPending},
	}
	for d, w := range want {
		if diff := cmp.Diff(w, got[d], cmpopts.IgnoreFields(ledger.ArtifactSummary{}, "RecordedAt"), cmpopts.EquateEmpty(),
			cmpopts.EquateApproxTime(0)); diff != "" {
			t.Errorf("summary of %s (-want +got):\n%s", d, diff)
		}
	}
	if a1 := got[f.a1]; a1.BuiltAt.Location() != time.UTC {
		t.Errorf("built time %v is not in UTC", a1.BuiltAt)
	}
}

func testListArtifactsPagination(t *testing.T, s ledger.Store) {
	const n = 23
	type art struct {
		digest string
		t      time.Time
	}
	var arts []art
	put := func(digest string, when time.Time) {
		t.Helper()
		if _, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: ledger.Build{
			Digest: digest, Image: "reg.example/page@" + digest, FinishedAt: when, EventID: "ev-" + digest,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		a := art{Digest(fmt.Sprint("page ", i)), tt(i / 2)} // pairs share a build time
		put(a.digest, a.t)
		arts = append(arts, a)
	}
	order := func(as []art) []string {
		slices.SortFunc(as, func(x, y art) int {
			if c := y.t.Compare(x.t); c != 0 {
				return c
			}
			return strings.Compare(y.digest, x.digest)
		})
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.digest
		}
		return out
	}
	want := order(slices.Clone(arts))
	req := ledger.ListArtifactsRequest{Scope: ledger.AllRepositories(), Limit: 4}
	if diff := cmp.Diff(want, listAll(t, s, req)); diff != "" {
		t.Fatalf("walk (-want +got):\n%s", diff)
	}

	// Builds recorded while a walk is under way: those that sort before the cursor are
	// not seen, those after it are, and nothing is seen twice or skipped.
	first, err := s.ListArtifacts(ctx(t), req)
	if err != nil || len(first.Artifacts) != 4 || first.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	boundary := arts[slices.IndexFunc(arts, func(a art) bool { return a.digest == first.Artifacts[3].Digest })].t
	newer := art{Digest("page newer"), tt(1000)}
	older := art{Digest("page older"), tt(-1000)}
	tieAfter := art{"sha256:" + strings.Repeat("0", 64), boundary}
	tieBefore := art{"sha256:" + strings.Repeat("f", 64), boundary}
	for _, a := range []art{newer, older, tieAfter, tieBefore} {
		put(a.digest, a.t)
	}
	got := []string{}
	for _, a := range first.Artifacts {
		got = append(got, a.Digest)
	}
	req.Cursor = first.NextCursor
	got = append(got, listAll(t, s, req)...)
	if diff := cmp.Diff(order(append(slices.Clone(arts), older, tieAfter)), got); diff != "" {
		t.Errorf("walk with concurrent inserts (-want +got):\n%s", diff)
	}
}

func testListArtifactsBadCursor(t *testing.T, s ledger.Store) {
	f := auditFixture(t, s)
	req := ledger.ListArtifactsRequest{Scope: ledger.AllRepositories(), Limit: 2}
	page, err := s.ListArtifacts(ctx(t), req)
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	dec, err := s.ListDecisions(ctx(t), ledger.ListDecisionsRequest{Scope: ledger.AllRepositories(), Limit: 1})
	if err != nil || dec.NextCursor == "" {
		t.Fatalf("decisions: %+v, %v", dec, err)
	}
	tampered := []byte(page.NextCursor)
	tampered[5] ^= 2
	for name, tc := range map[string]struct {
		cursor string
		mutate func(*ledger.ListArtifactsRequest)
	}{
		"malformed":        {cursor: "%%%"},
		"padded":           {cursor: page.NextCursor + "=="},
		"tampered":         {cursor: string(tampered)},
		"truncated":        {cursor: page.NextCursor[:20]},
		"from decisions":   {cursor: dec.NextCursor},
		"other status":     {cursor: page.NextCursor, mutate: func(r *ledger.ListArtifactsRequest) { r.Status = ledger.StatusPending }},
		"other scope":      {cursor: page.NextCursor, mutate: func(r *ledger.ListArtifactsRequest) { r.Scope = ledger.RepositoryScope("reg.example") }},
		"other time range": {cursor: page.NextCursor, mutate: func(r *ledger.ListArtifactsRequest) { r.Since = tt(1) }},
		"huge":             {cursor: strings.Repeat("x", 100000)},
		"SQL":              {cursor: "' OR 1=1 --"},
	} {
		t.Run(name, func(t *testing.T) {
			r := req
			r.Cursor = tc.cursor
			if tc.mutate != nil {
				tc.mutate(&r)
			}
			resp, err := s.ListArtifacts(ctx(t), r)
			wantErr(t, "ListArtifacts", err, ledger.ErrInvalid)
			if len(resp.Artifacts) != 0 {
				t.Errorf("a refused request listed %d artifacts", len(resp.Artifacts))
			}
		})
	}
	// The limit is not part of what a cursor is bound to.
	r := req
	r.Cursor, r.Limit = page.NextCursor, 10
	if got := listAll(t, s, r); !slices.Equal(got, []string{f.a4, f.a3, f.a2, f.a1}) {
		t.Errorf("rest of the listing with another page size = %v", got)
	}
}

func testListArtifactsInvalid(t *testing.T, s ledger.Store) {
	all := ledger.AllRepositories()
	for name, req := range map[string]ledger.ListArtifactsRequest{
		"no scope":           {},
		"empty prefix list":  {Scope: ledger.Scope{RepositoryPrefixes: []string{}}},
		"empty prefix":       {Scope: ledger.RepositoryScope("")},
		"prefix with digest": {Scope: ledger.RepositoryScope("reg.example/app@sha256:00")},
		"prefix with tag":    {Scope: ledger.RepositoryScope("reg.example/app:1")},
		"trailing slash":     {Scope: ledger.RepositoryScope("reg.example/")},
		"too many prefixes":  {Scope: ledger.RepositoryScope(slices.Repeat([]string{"reg.example"}, ledger.MaxScopePrefixes+1)...)},
		"limit too large":    {Scope: all, Limit: ledger.MaxListLimit + 1},
		"negative limit":     {Scope: all, Limit: -3},
		"since after until":  {Scope: all, Since: tt(2), Until: tt(1)},
		"since is until":     {Scope: all, Since: tt(2), Until: tt(2)},
		"unknown status":     {Scope: all, Status: "shipped"},
		"bad destination":    {Scope: all, Destination: "prod example/app"},
		"NUL in commit":      {Scope: all, Commit: "c\x00"},
		"time out of range":  {Scope: all, Since: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, err := s.ListArtifacts(ctx(t), req)
		wantErr(t, name, err, ledger.ErrInvalid)
	}
}

func testArtifactSummaries(t *testing.T, s ledger.Store) {
	f := auditFixture(t, s)
	unknown := Digest("audit unknown")
	resp, err := s.ArtifactSummaries(ctx(t), ledger.ArtifactSummariesRequest{
		Digests: []string{f.a7, unknown, f.a1, f.a7, f.a8}, Scope: ledger.AllRepositories(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var digests []string
	for _, a := range resp.Artifacts {
		digests = append(digests, a.Digest)
	}
	if diff := cmp.Diff([]string{f.a7, f.a1, f.a8}, digests); diff != "" {
		t.Fatalf("summaries, in the order asked, unknown and repeated left out (-want +got):\n%s", diff)
	}
	a7 := resp.Artifacts[0]
	if a7.Image != "reg.example/team-b/seven@"+f.a7 || a7.ScanStatus != ledger.ScanComplete || a7.Status != ledger.StatusPending ||
		!a7.BuiltAt.IsZero() || a7.RecordedAt.IsZero() || a7.SourceRepository != "" {
		t.Errorf("summary of an artifact with only a scan = %+v", a7)
	}
	a8 := resp.Artifacts[2]
	if a8.Image != "" || a8.Verdict != ledger.Denied || a8.Status != ledger.StatusDenied || a8.RecordedAt.IsZero() {
		t.Errorf("summary of an artifact with only a decision = %+v", a8)
	}
	scoped, err := s.ArtifactSummaries(ctx(t), ledger.ArtifactSummariesRequest{
		Digests: []string{f.a7, f.a1, f.a8}, Scope: ledger.RepositoryScope("reg.example/team-a"),
	})
	if err != nil || len(scoped.Artifacts) != 1 || scoped.Artifacts[0].Digest != f.a1 {
		t.Errorf("scoped summaries = %+v, %v; want a1 only", scoped.Artifacts, err)
	}
	empty, err := s.ArtifactSummaries(ctx(t), ledger.ArtifactSummariesRequest{Scope: ledger.AllRepositories()})
	if err != nil || empty.Artifacts == nil || len(empty.Artifacts) != 0 {
		t.Errorf("no digests = %+v, %v; want an empty list", empty, err)
	}
	for name, req := range map[string]ledger.ArtifactSummariesRequest{
		"bad digest": {Digests: []string{"latest"}, Scope: ledger.AllRepositories()},
		"no scope":   {Digests: []string{f.a1}},
		"too many":   {Digests: slices.Repeat([]string{f.a1}, ledger.MaxSummaryDigests+1), Scope: ledger.AllRepositories()},
	} {
		_, err := s.ArtifactSummaries(ctx(t), req)
		wantErr(t, name, err, ledger.ErrInvalid)
	}
}

// listDecisions walks every page of a ListDecisions query and returns the request ids.
func listDecisions(t *testing.T, s ledger.Store, req ledger.ListDecisionsRequest) []string {
	t.Helper()
	out := []string{}
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("more than 100 pages")
		}
		resp, err := s.ListDecisions(ctx(t), req)
		if err != nil {
			t.Fatalf("ListDecisions(%+v): %v", req, err)
		}
		for _, d := range resp.Decisions {
			if seen[d.EventID] {
				t.Errorf("decision %s listed twice", d.EventID)
			}
			seen[d.EventID] = true
			out = append(out, d.RequestID)
		}
		if resp.NextCursor == "" {
			return out
		}
		req.Cursor = resp.NextCursor
	}
}

func testListDecisions(t *testing.T, s ledger.Store) {
	f := auditFixture(t, s)
	for _, tc := range []struct {
		name string
		req  ledger.ListDecisionsRequest
		want []string
	}{
		{"everything, newest first", ledger.ListDecisionsRequest{}, []string{"req-a8", "req-a5", "req-a4", "req-a2", "req-a1", "req-a1-0"}},
		{"digest", ledger.ListDecisionsRequest{Digest: f.a1}, []string{"req-a1", "req-a1-0"}},
		{"verdict", ledger.ListDecisionsRequest{Verdict: ledger.Denied}, []string{"req-a8", "req-a2", "req-a1-0"}},
		{"policy", ledger.ListDecisionsRequest{PolicyDigest: Digest("P2")}, []string{"req-a5", "req-a4"}},
		{"destination", ledger.ListDecisionsRequest{Destination: "prod.example/team-a"}, []string{"req-a2", "req-a1", "req-a1-0"}},
		{"destination repository", ledger.ListDecisionsRequest{Destination: "prod.example/team-b/lib"}, []string{"req-a4"}},
		{"destination is not a string prefix", ledger.ListDecisionsRequest{Destination: "prod.example/team"}, []string{}},
		{"time window", ledger.ListDecisionsRequest{Since: tt(11), Until: tt(41)}, []string{"req-a2", "req-a1"}},
		{"verdict and policy", ledger.ListDecisionsRequest{Verdict: ledger.Denied, PolicyDigest: Digest("P1")}, []string{"req-a2", "req-a1-0"}},
		{"scope", ledger.ListDecisionsRequest{Scope: ledger.RepositoryScope("reg.example/team-b")}, []string{"req-a4"}},
		// a8 is known only by its decision: the decision's own image places it.
		{"scope of a decision's own image", ledger.ListDecisionsRequest{Scope: ledger.RepositoryScope("reg.example/team-c")}, []string{"req-a8"}},
		{"scope and verdict", ledger.ListDecisionsRequest{Scope: ledger.RepositoryScope("reg.example/team-a"), Verdict: ledger.Allowed},
			[]string{"req-a1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.req.Scope.All && len(tc.req.Scope.RepositoryPrefixes) == 0 {
				tc.req.Scope = ledger.AllRepositories()
			}
			if diff := cmp.Diff(tc.want, listDecisions(t, s, tc.req)); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
			tc.req.Limit = 1
			if diff := cmp.Diff(tc.want, listDecisions(t, s, tc.req)); diff != "" {
				t.Errorf("decisions, one per page (-want +got):\n%s", diff)
			}
		})
	}
	resp, err := s.ListDecisions(ctx(t), ledger.ListDecisionsRequest{Digest: f.a2, Scope: ledger.AllRepositories()})
	if err != nil || len(resp.Decisions) != 1 {
		t.Fatalf("decisions of a2: %+v, %v", resp, err)
	}
	want := decision(f.a2, "req-a2", "ev-dec-req-a2", ledger.Denied, tt(21))
	want.PolicyDigest, want.Destination = Digest("P1"), "prod.example/team-a/app:2"
	if diff := cmp.Diff(want, resp.Decisions[0], cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}

	page, err := s.ListDecisions(ctx(t), ledger.ListDecisionsRequest{Scope: ledger.AllRepositories(), Limit: 2})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	art, err := s.ListArtifacts(ctx(t), ledger.ListArtifactsRequest{Scope: ledger.AllRepositories(), Limit: 1})
	if err != nil || art.NextCursor == "" {
		t.Fatalf("artifacts: %+v, %v", art, err)
	}
	for name, req := range map[string]ledger.ListDecisionsRequest{
		"no scope":          {},
		"bad digest":        {Digest: "sha256:abc", Scope: ledger.AllRepositories()},
		"bad policy digest": {PolicyDigest: "P1", Scope: ledger.AllRepositories()},
		"unknown verdict":   {Verdict: "maybe", Scope: ledger.AllRepositories()},
		"bad destination":   {Destination: "/prod", Scope: ledger.AllRepositories()},
		"limit too large":   {Limit: ledger.MaxListLimit + 1, Scope: ledger.AllRepositories()},
		"since after until": {Since: tt(5), Until: tt(4), Scope: ledger.AllRepositories()},
		"malformed cursor":  {Cursor: "@@", Scope: ledger.AllRepositories()},
		"artifacts cursor":  {Cursor: art.NextCursor, Scope: ledger.AllRepositories()},
		"other filters":     {Cursor: page.NextCursor, Verdict: ledger.Allowed, Scope: ledger.AllRepositories()},
	} {
		_, err := s.ListDecisions(ctx(t), req)
		wantErr(t, name, err, ledger.ErrInvalid)
	}
}

// testScopeMatching checks that a scope matches whole path segments in the store
// exactly as ledger.UnderRepository does.
func testScopeMatching(t *testing.T, s ledger.Store) {
	images := []string{
		"reg.example/team@" + Digest("m1"), "reg.example/team:1", "reg.example/team/app@" + Digest("m3"),
		"reg.example/teamwork/app@" + Digest("m4"), "reg.example:5000/team/app@" + Digest("m5"),
		"reg.example/team:5000/app", "REG.example/team/app", "reg.example/team",
	}
	byDigest := map[string]string{}
	for i, img := range images {
		d := Digest(fmt.Sprint("scope match ", i))
		byDigest[d] = img
		if _, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: ledger.Build{
			Digest: d, Image: img, FinishedAt: tt(i), EventID: "ev-" + d,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, prefix := range []string{"reg.example/team", "reg.example", "reg.example:5000", "reg.example/team/app", "reg.example/tea"} {
		got := listAll(t, s, ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope(prefix)})
		var gotImages, want []string
		for _, d := range got {
			gotImages = append(gotImages, byDigest[d])
		}
		for i := len(images) - 1; i >= 0; i-- {
			if ledger.UnderRepository(images[i], prefix) {
				want = append(want, images[i])
			}
		}
		if diff := cmp.Diff(want, gotImages, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("scope %q (-want +got):\n%s", prefix, diff)
		}
	}
}

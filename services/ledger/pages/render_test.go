package pages_test

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

var (
	digestA = "sha256:" + strings.Repeat("a1", 32)
	digestB = "sha256:" + strings.Repeat("b2", 32)
	envA    = "sha256:" + strings.Repeat("e1", 32)
	envB    = "sha256:" + strings.Repeat("e2", 32)
	policyD = "sha256:" + strings.Repeat("0f", 32)
	keyID   = strings.Repeat("c3", 32)
)

func at(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

// provenanceA is a whole journey: build, two attestations, a scan, an allowed decision,
// a completed promotion, and a timeline given out of order.
func provenanceA() *auditv1.Provenance {
	return &auditv1.Provenance{
		Digest: digestA, Image: "reg.example/app@" + digestA,
		Build: &auditv1.Build{Image: "reg.example/app@" + digestA, SourceRepository: "https://git.example/app", SourceRef: "refs/heads/main",
			Commit: "0123abc", BuilderId: "urn:custody:builder:test", BuildType: "https://custody.dev/build/v1",
			StartedAt: at("2026-03-01T12:00:00Z"), FinishedAt: at("2026-03-01T12:05:00Z"), EventId: "ev-build"},
		Attestations: []*auditv1.Attestation{
			{PredicateType: "https://slsa.dev/provenance/v1", KeyIds: []string{keyID}, EnvelopeDigest: envA, LogIndex: 0, RecordedAt: at("2026-03-01T12:06:00Z")},
			{PredicateType: "https://cyclonedx.org/bom", KeyIds: []string{keyID}, EnvelopeDigest: envB, LogIndex: 1, RecordedAt: at("2026-03-01T12:07:00Z")},
		},
		Scans: []*auditv1.Scan{{Status: auditv1.ScanStatus_SCAN_STATUS_COMPLETE, PackageCount: 42, Scanner: "custody-scanner/1",
			ScannedAt: at("2026-03-01T12:06:30Z")}},
		Decisions: []*auditv1.Decision{{RequestId: "req-1", Digest: digestA, Destination: "prod.example/app:1",
			Verdict: auditv1.Verdict_VERDICT_ALLOWED, Reasons: []string{"provenance: signed by a trusted key"},
			PolicyName: "prod", PolicyDigest: policyD, AttestationDigests: []string{envA}, DecidedAt: at("2026-03-01T12:08:00Z"), LogIndex: 2}},
		Promotions: []*auditv1.Promotion{{RequestId: "req-1", Digest: digestA, Destination: "prod.example/app:1",
			DestinationImage: "prod.example/app@" + digestA, Status: auditv1.PromotionStatus_PROMOTION_STATUS_COMPLETED, RequestedBy: "ci",
			RequestedAt: at("2026-03-01T12:07:30Z"), FinishedAt: at("2026-03-01T12:09:00Z")}},
		Timeline: []*auditv1.TimelineEvent{
			{Time: at("2026-03-01T12:08:00Z"), Type: "custody.promotion.decided", Id: "ev-3", TraceId: strings.Repeat("7", 32), Sequence: 3},
			{Time: at("2026-03-01T12:05:00Z"), Type: "custody.build.completed", Id: "ev-1", TraceId: strings.Repeat("7", 32), Sequence: 1},
			{Time: at("2026-03-01T12:06:00Z"), Type: "custody.attestation.signed", Id: "ev-2", Sequence: 2},
		},
	}
}

// contains fails the test for each of wants the body lacks.
func contains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
}

// inOrder fails the test unless wants appear in body in this order.
func inOrder(t *testing.T, body string, wants ...string) {
	t.Helper()
	last := -1
	for _, w := range wants {
		i := strings.Index(body, w)
		if i < 0 || i < last {
			t.Errorf("%q is missing or out of order", w)
			return
		}
		last = i
	}
}

func TestSearchPage(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	e.api.artifacts = &auditv1.ListArtifactsResponse{NextPageToken: "tok/2+=", Artifacts: []*auditv1.ArtifactSummary{
		{Digest: digestA, Image: "reg.example/app@" + digestA, SourceRepository: "https://git.example/app", Commit: "0123abc",
			BuilderId: "urn:custody:builder:test", BuiltAt: at("2026-03-01T12:05:00Z"), PredicateTypes: []string{"https://slsa.dev/provenance/v1"},
			ScanStatus: auditv1.ScanStatus_SCAN_STATUS_COMPLETE, Verdict: auditv1.Verdict_VERDICT_DENIED,
			Status: auditv1.ArtifactStatus_ARTIFACT_STATUS_DENIED},
		{Digest: digestB, PromotedImages: []string{"prod.example/app@" + digestB}, Status: auditv1.ArtifactStatus_ARTIFACT_STATUS_PROMOTED},
	}}
	w := e.get("/ui/?source=https%3A%2F%2Fgit.example%2Fapp&status=denied&since=2026-03-01&until=2026-03-02T10:00&builder=b&commit=c&destination=d", s)
	if w.Code != http.StatusOK {
		t.Fatalf("search: %d %s", w.Code, w.Body)
	}
	got := e.api.lastList
	if got.GetSourceRepository() != "https://git.example/app" || got.GetStatus() != auditv1.ArtifactStatus_ARTIFACT_STATUS_DENIED ||
		got.GetBuilderId() != "b" || got.GetCommit() != "c" || got.GetDestination() != "d" ||
		!got.GetSince().AsTime().Equal(at("2026-03-01T00:00:00Z").AsTime()) || !got.GetUntil().AsTime().Equal(at("2026-03-02T10:00:00Z").AsTime()) {
		t.Errorf("ListArtifacts got %v", got)
	}
	body := w.Body.String()
	contains(t, body,
		`href="/ui/artifacts/`+digestA+`"`, `href="/ui/artifacts/`+digestB+`"`, "reg.example/app@"+digestA,
		"https://git.example/app", "0123abc", "urn:custody:builder:test", "2026-03-01 12:05:00 UTC", `<span class="verdict denied">denied</span>`,
		"promoted", "prod.example/app@"+digestB, "https://slsa.dev/provenance/v1",
		`value="https://git.example/app"`, `<option value="denied" selected>`, `value="2026-03-01"`,
		// The next page keeps the filters and carries the token, escaped.
		`id="next-page"`, "page_token=tok%2F2%2B%3D", "source=https%3A%2F%2Fgit.example%2Fapp", "status=denied",
		`aria-current="page">Artifacts`)
	if strings.Contains(body, `id="list-unavailable"`) {
		t.Error("a list that answered is called unavailable")
	}
	// The next page's link, followed, hands the token back to the API.
	w = e.get("/ui/?page_token=tok%2F2%2B%3D&status=denied", s)
	if w.Code != 200 || e.api.lastList.GetPageToken() != "tok/2+=" {
		t.Errorf("page token: %d, API got %q", w.Code, e.api.lastList.GetPageToken())
	}
	// An empty answer says so.
	e.api.artifacts = &auditv1.ListArtifactsResponse{}
	contains(t, e.get("/ui/", s).Body.String(), `id="no-results"`)
}

func TestListsUnavailable(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	// The fake answers Unimplemented, as this ledger's list RPCs do.
	for _, path := range []string{"/ui/", "/ui/affected?vuln=CVE-2024-1"} {
		w := e.get(path, s)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		contains(t, w.Body.String(), `id="list-unavailable"`, "not available on this ledger")
	}
}

func TestOpenArtifact(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	for in, want := range map[string]string{digestA: "/ui/artifacts/" + digestA, "reg.example/app:1@" + digestB: "/ui/artifacts/" + digestB} {
		w := e.get("/ui/artifacts?artifact="+strings.ReplaceAll(in, "/", "%2F"), s)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("open %s: %d, Location %q", in, w.Code, w.Header().Get("Location"))
		}
	}
	if w := e.get("/ui/artifacts?artifact=sha256:abc", s); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "does not name a digest") {
		t.Errorf("open a bad digest: %d %s", w.Code, w.Body)
	}
}

func TestArtifactPage(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	e.api.provenance[digestA] = provenanceA()
	w := e.get("/ui/artifacts/"+digestA, s)
	if w.Code != http.StatusOK {
		t.Fatalf("artifact: %d %s", w.Code, w.Body)
	}
	body := w.Body.String()
	contains(t, body,
		`<code id="digest">`+digestA+`</code>`, "https://git.example/app", "refs/heads/main", "0123abc", "urn:custody:builder:test",
		"https://custody.dev/build/v1", "2026-03-01 12:00:00 UTC",
		// attestations: predicate type, signer, log index, recorded time, anchor
		`id="att-`+strings.Repeat("e1", 32)+`"`, "https://cyclonedx.org/bom", keyID, "2026-03-01 12:07:00 UTC", "<td>1</td>",
		// scan, decision with reasons and a link to its page, promotion
		"complete", "<td>42</td>", `href="/ui/decisions/req-1"`, `<span class="verdict allowed">allowed</span>`,
		"provenance: signed by a trusted key", policyD, "prod.example/app@"+digestA, "completed",
		// the trace id and the bundle download
		`<code class="trace">`+strings.Repeat("7", 32)+`</code>`, `href="/ui/artifacts/`+digestA+`/bundle"`)
	inOrder(t, body, "custody.build.completed", "custody.attestation.signed", "custody.promotion.decided")
	if w := e.get("/ui/artifacts/"+digestB, s); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "nothing is recorded about artifact") {
		t.Errorf("unknown artifact: %d %s", w.Code, w.Body)
	}
	if p := e.api.principals[len(e.api.principals)-1]; p != "token:auditor" {
		t.Errorf("the API saw principal %q: the page must pass the session's context", p)
	}
}

func TestBundleDownload(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	doc := []byte(`{"digest":"` + digestA + `","attestations":[]}` + "\n")
	e.api.bundles[digestA] = doc
	w := e.get("/ui/artifacts/"+digestA+"/bundle", s)
	if w.Code != http.StatusOK || w.Body.String() != string(doc) {
		t.Fatalf("bundle: %d %q", w.Code, w.Body)
	}
	want := `attachment; filename="custody-bundle-sha256-` + strings.Repeat("a1", 32) + `.json"`
	if got := w.Header().Get("Content-Disposition"); got != want {
		t.Errorf("Content-Disposition %q, want %q", got, want)
	}
	// The API's media type (the fake says text/html) never decides how it is served.
	if got := w.Header().Get("Content-Type"); got != "application/vnd.custody.bundle.v1+json" {
		t.Errorf("Content-Type %q", got)
	}
}

func TestDecisionPage(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	p := provenanceA()
	e.api.decisions["req-1"] = p.Decisions[0]
	e.api.promotions["req-1"] = p.Promotions[0]
	w := e.get("/ui/decisions/req-1", s)
	if w.Code != http.StatusOK {
		t.Fatalf("decision: %d %s", w.Code, w.Body)
	}
	contains(t, w.Body.String(), `<span class="verdict allowed" id="verdict">allowed</span>`, `<code id="request-id">req-1</code>`,
		"provenance: signed by a trusted key", "prod", `<code id="policy-digest">`+policyD+`</code>`, "2026-03-01 12:08:00 UTC",
		// the attestation it used links to its row on the artifact's page
		`href="/ui/artifacts/`+digestA+`#att-`+strings.Repeat("e1", 32)+`"`, `href="/ui/artifacts/`+digestA+`"`,
		"<strong>completed</strong>", "prod.example/app@"+digestA, "prod.example/app:1")
	// A decision whose promotion the ledger lacks still shows, and says so.
	e.api.decisions["req-2"] = &auditv1.Decision{RequestId: "req-2", Digest: digestB, Verdict: auditv1.Verdict_VERDICT_DENIED,
		Reasons: []string{"vulnerabilities: 1 critical"}}
	w = e.get("/ui/decisions/req-2", s)
	if w.Code != http.StatusOK {
		t.Fatalf("decision without a promotion: %d", w.Code)
	}
	contains(t, w.Body.String(), "denied", "vulnerabilities: 1 critical", "no record of this promotion request")
	if w := e.get("/ui/decisions/req-3", s); w.Code != http.StatusNotFound {
		t.Errorf("unknown decision: %d", w.Code)
	}
}

func TestAffectedPage(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	// The bare form asks nothing.
	if w := e.get("/ui/affected", s); w.Code != http.StatusOK || e.api.callCount() != 1 || strings.Contains(w.Body.String(), "Results") {
		t.Fatalf("bare form: %d, %d calls", w.Code, e.api.callCount())
	}
	e.api.affected = &auditv1.ListAffectedResponse{NextPageToken: "p2", Artifacts: []*auditv1.AffectedArtifact{{
		Digest: digestA, Image: "reg.example/app@" + digestA, Promoted: true,
		Matches: []*auditv1.PackageMatch{{Purl: "pkg:deb/debian/openssl@3.0.11", Version: "3.0.11", VulnerabilityId: "CVE-2023-5363",
			FixedVersions: []string{"3.0.11-1~deb12u2", "3.1.4"}}},
		Promotions: []*auditv1.PromotionTarget{{Destination: "prod.example/app:1", DestinationImage: "prod.example/app@" + digestA,
			CompletedAt: at("2026-03-01T12:09:00Z")}},
	}}}
	for _, tc := range []struct {
		query string
		check func(*auditv1.ListAffectedRequest) bool
	}{
		{"vuln=CVE-2023-5363&promoted=on", func(r *auditv1.ListAffectedRequest) bool {
			return r.GetVulnerabilityId() == "CVE-2023-5363" && r.GetPromotedOnly()
		}},
		{"purl=pkg%3Adeb%2Fdebian%2Fopenssl", func(r *auditv1.ListAffectedRequest) bool {
			return r.GetPurl() == "pkg:deb/debian/openssl" && !r.GetPromotedOnly()
		}},
		{"ecosystem=Debian&name=openssl&range=%3E%3D3.0.0%2C%3C3.0.12", func(r *auditv1.ListAffectedRequest) bool {
			p := r.GetPackage()
			return p.GetEcosystem() == "Debian" && p.GetName() == "openssl" && p.GetVersionRange() == ">=3.0.0,<3.0.12"
		}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			w := e.get("/ui/affected?"+tc.query, s)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if !tc.check(e.api.lastAffect) {
				t.Errorf("ListAffected got %v", e.api.lastAffect)
			}
			contains(t, w.Body.String(), `href="/ui/artifacts/`+digestA+`"`, "pkg:deb/debian/openssl@3.0.11", "CVE-2023-5363",
				"fixed in 3.0.11-1~deb12u2, 3.1.4", "<strong>yes</strong>", "prod.example/app@"+digestA, "2026-03-01 12:09:00 UTC",
				`id="next-page"`, "page_token=p2", `aria-current="page">Affected by`)
		})
	}
	if !strings.Contains(e.get("/ui/affected?vuln=CVE-1&promoted=on", s).Body.String(), html.EscapeString("/ui/affected?page_token=p2&promoted=on&vuln=CVE-1")) {
		t.Error("the next page drops promoted-only")
	}
}

package cli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
)

// auditDouble is a TEST DOUBLE of the ledger's audit API: the generated Connect handler
// over canned pages, recording every request and its Authorization header. The real
// ledger's list queries are not in this build (they answer Unimplemented), so the CLI's
// rendering and paging are tested against this stand-in; the real server's answers are
// tested in services/ledger.
type auditDouble struct {
	auditv1connect.UnimplementedAuditServiceHandler
	// unimplemented makes the list RPCs answer as the ledger of this build does.
	unimplemented bool

	mu        sync.Mutex
	requests  []proto.Message
	authByRPC map[string]string
}

func (d *auditDouble) record(rpc string, h http.Header, m proto.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests = append(d.requests, m)
	if d.authByRPC == nil {
		d.authByRPC = map[string]string{}
	}
	d.authByRPC[rpc] = h.Get("Authorization")
}

func (d *auditDouble) seen() []proto.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]proto.Message(nil), d.requests...)
}

func (d *auditDouble) notBuilt(rpc string) error {
	return connect.NewError(connect.CodeUnimplemented, errors.New(rpc+" is not available in this build"))
}

var (
	digestA = "sha256:" + strings.Repeat("a", 64)
	digestB = "sha256:" + strings.Repeat("b", 64)
	builtAt = timestamppb.New(time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC))
)

func (d *auditDouble) ListArtifacts(_ context.Context, req *connect.Request[auditv1.ListArtifactsRequest]) (*connect.Response[auditv1.ListArtifactsResponse], error) {
	d.record("ListArtifacts", req.Header(), req.Msg)
	if d.unimplemented {
		return nil, d.notBuilt("ListArtifacts")
	}
	if req.Msg.GetPageToken() == "" {
		return connect.NewResponse(&auditv1.ListArtifactsResponse{NextPageToken: "page-2", Artifacts: []*auditv1.ArtifactSummary{{
			Digest: digestA, Image: "reg.example/app@" + digestA, SourceRepository: "https://git.example/app",
			Commit: "0123456789abcdef0123", BuilderId: "https://ci.example", BuiltAt: builtAt,
			Status: auditv1.ArtifactStatus_ARTIFACT_STATUS_PROMOTED, ScanStatus: auditv1.ScanStatus_SCAN_STATUS_COMPLETE,
			Verdict: auditv1.Verdict_VERDICT_ALLOWED, PromotedImages: []string{"prod.example/app@" + digestA},
		}}}), nil
	}
	return connect.NewResponse(&auditv1.ListArtifactsResponse{Artifacts: []*auditv1.ArtifactSummary{{
		Digest: digestB, Image: "reg.example/app@" + digestB, Status: auditv1.ArtifactStatus_ARTIFACT_STATUS_DENIED,
		Verdict: auditv1.Verdict_VERDICT_DENIED,
	}}}), nil
}

func (d *auditDouble) ListAffected(_ context.Context, req *connect.Request[auditv1.ListAffectedRequest]) (*connect.Response[auditv1.ListAffectedResponse], error) {
	d.record("ListAffected", req.Header(), req.Msg)
	if d.unimplemented {
		return nil, d.notBuilt("ListAffected")
	}
	return connect.NewResponse(&auditv1.ListAffectedResponse{Artifacts: []*auditv1.AffectedArtifact{
		{Digest: digestA, Image: "reg.example/app@" + digestA, Promoted: true,
			Matches: []*auditv1.PackageMatch{{Purl: "pkg:npm/left-pad@1.0.0", Ecosystem: "npm", Name: "left-pad", Version: "1.0.0",
				VulnerabilityId: "CVE-2026-0001", FixedVersions: []string{"1.0.1"}}},
			Promotions: []*auditv1.PromotionTarget{{Destination: "prod.example/app:1", DestinationImage: "prod.example/app@" + digestA, CompletedAt: builtAt}}},
		{Digest: digestB, Image: "reg.example/app@" + digestB,
			Matches: []*auditv1.PackageMatch{{Purl: "pkg:npm/left-pad@1.0.0", Ecosystem: "npm", Name: "left-pad", Version: "1.0.0",
				VulnerabilityId: "CVE-2026-0001"}}},
	}}), nil
}

var deniedDecision = &auditv1.Decision{
	RequestId: "req-7", Digest: digestA, Destination: "prod.example/app", Verdict: auditv1.Verdict_VERDICT_DENIED,
	Reasons: []string{"vulns: 2 critical above the threshold 0"}, PolicyName: "prod", PolicyDigest: digestB,
	DecidedAt: builtAt, LogIndex: 0,
}

func (d *auditDouble) ListDecisions(_ context.Context, req *connect.Request[auditv1.ListDecisionsRequest]) (*connect.Response[auditv1.ListDecisionsResponse], error) {
	d.record("ListDecisions", req.Header(), req.Msg)
	if d.unimplemented {
		return nil, d.notBuilt("ListDecisions")
	}
	return connect.NewResponse(&auditv1.ListDecisionsResponse{Decisions: []*auditv1.Decision{deniedDecision}}), nil
}

func (d *auditDouble) GetDecision(_ context.Context, req *connect.Request[auditv1.GetDecisionRequest]) (*connect.Response[auditv1.GetDecisionResponse], error) {
	d.record("GetDecision", req.Header(), req.Msg)
	if req.Msg.GetRequestId() != "req-7" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no promotion request is recorded"))
	}
	return connect.NewResponse(&auditv1.GetDecisionResponse{Decision: deniedDecision}), nil
}

func newAuditDouble(t *testing.T, d *auditDouble) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(auditv1connect.NewAuditServiceHandler(d))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestArtifactsList(t *testing.T) {
	d := &auditDouble{}
	url := newAuditDouble(t, d)

	stdout, stderr, code := run(t, "artifacts", "list", "--status", "promoted", "--since", "2026-03-01", "--builder", "https://ci.example",
		"--limit", "1", "--server", url)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"DIGEST", "aaaaaaaaaaaaaaaa", "reg.example/app", "https://git.example/app @ 0123456789ab",
		"2026-03-01T12:05:00Z", "promoted", "complete", "allowed", "prod.example/app@" + digestA} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "bbbbbbbb") || !strings.Contains(stderr, "more: --page-token page-2") {
		t.Errorf("without --all only the first page shows, with the next token on stderr:\n%s\n%s", stdout, stderr)
	}
	req := d.seen()[0].(*auditv1.ListArtifactsRequest)
	if req.GetStatus() != auditv1.ArtifactStatus_ARTIFACT_STATUS_PROMOTED || req.GetPageSize() != 1 || req.GetBuilderId() != "https://ci.example" ||
		!req.GetSince().AsTime().Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || req.GetUntil() != nil {
		t.Errorf("request = %v", req)
	}

	stdout, stderr, code = run(t, "artifacts", "list", "--all", "-o", "json", "--server", url)
	if code != ExitOK {
		t.Fatalf("--all -o json: exit %d: %s", code, stderr)
	}
	var all auditv1.ListArtifactsResponse
	if err := protojson.Unmarshal([]byte(stdout), &all); err != nil {
		t.Fatalf("-o json is not the API's JSON: %v\n%s", err, stdout)
	}
	if len(all.GetArtifacts()) != 2 || all.GetArtifacts()[1].GetDigest() != digestB || all.GetNextPageToken() != "" ||
		!strings.Contains(stdout, `"promotedImages": [`) || !strings.Contains(stdout, `"status": "ARTIFACT_STATUS_DENIED"`) {
		t.Errorf("--all did not walk both pages into one list:\n%s", stdout)
	}
	seen := d.seen()
	if last := seen[len(seen)-1].(*auditv1.ListArtifactsRequest); last.GetPageToken() != "page-2" {
		t.Errorf("second page asked with token %q, want page-2", last.GetPageToken())
	}

	if _, _, code := run(t, "artifacts", "list", "--page-token", "page-2", "--server", url); code != ExitOK {
		t.Errorf("--page-token: exit %d", code)
	} else if last := d.seen()[len(d.seen())-1].(*auditv1.ListArtifactsRequest); last.GetPageToken() != "page-2" {
		t.Errorf("--page-token sent %q", last.GetPageToken())
	}
}

func TestAffected(t *testing.T) {
	d := &auditDouble{}
	url := newAuditDouble(t, d)
	for _, tc := range []struct {
		name string
		args []string
		want func(*auditv1.ListAffectedRequest) bool
	}{
		{"cve", []string{"CVE-2026-0001", "--promoted-only"}, func(r *auditv1.ListAffectedRequest) bool {
			return r.GetVulnerabilityId() == "CVE-2026-0001" && r.GetPromotedOnly()
		}},
		{"ghsa", []string{"GHSA-abcd-efgh-ijkl"}, func(r *auditv1.ListAffectedRequest) bool { return r.GetVulnerabilityId() == "GHSA-abcd-efgh-ijkl" }},
		{"purl", []string{"pkg:npm/left-pad@1.0.0"}, func(r *auditv1.ListAffectedRequest) bool { return r.GetPurl() == "pkg:npm/left-pad@1.0.0" }},
		{"package", []string{"--ecosystem", "npm", "--name", "left-pad", "--range", ">=1.0.0,<1.0.1"}, func(r *auditv1.ListAffectedRequest) bool {
			p := r.GetPackage()
			return p.GetEcosystem() == "npm" && p.GetName() == "left-pad" && p.GetVersionRange() == ">=1.0.0,<1.0.1"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, append([]string{"affected", "--server", url}, tc.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			seen := d.seen()
			if req := seen[len(seen)-1].(*auditv1.ListAffectedRequest); !tc.want(req) {
				t.Errorf("request = %v", req)
			}
			for _, want := range []string{"pkg:npm/left-pad@1.0.0", "CVE-2026-0001", "1.0.1", "prod.example/app@" + digestA, "bbbbbbbbbbbbbbbb"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("table lacks %q:\n%s", want, stdout)
				}
			}
			if !strings.Contains(stderr, "2 affected artifacts, 1 of them promoted") {
				t.Errorf("stderr %q lacks the summary", stderr)
			}
		})
	}
	stdout, _, code := run(t, "affected", "CVE-2026-0001", "-o", "json", "--server", url)
	var resp auditv1.ListAffectedResponse
	if code != ExitOK || protojson.Unmarshal([]byte(stdout), &resp) != nil || !resp.GetArtifacts()[0].GetPromoted() ||
		resp.GetArtifacts()[0].GetPromotions()[0].GetDestination() != "prod.example/app:1" {
		t.Errorf("-o json = %d %s", code, stdout)
	}
}

func TestDecisions(t *testing.T) {
	d := &auditDouble{}
	url := newAuditDouble(t, d)
	stdout, stderr, code := run(t, "decisions", "reg.example/app@"+digestA, "--verdict", "denied", "--destination", "prod.example/app",
		"--until", "24h", "--server", url)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"DENIED", "prod.example/app", "prod " + strings.Repeat("b", 16), "req-7", "log #0",
		"  - vulns: 2 critical above the threshold 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	req := d.seen()[0].(*auditv1.ListDecisionsRequest)
	if req.GetArtifact() != "reg.example/app@"+digestA || req.GetVerdict() != auditv1.Verdict_VERDICT_DENIED ||
		req.GetDestination() != "prod.example/app" || time.Since(req.GetUntil().AsTime()) < 23*time.Hour {
		t.Errorf("request = %v", req)
	}

	stdout, stderr, code = run(t, "decisions", "--request", "req-7", "-o", "json", "--server", url)
	var one auditv1.GetDecisionResponse
	if code != ExitOK || protojson.Unmarshal([]byte(stdout), &one) != nil || one.GetDecision().GetRequestId() != "req-7" ||
		!strings.Contains(stdout, `"logIndex": "0"`) {
		t.Errorf("--request -o json = %d %s %s", code, stdout, stderr)
	}
	_, stderr, code = run(t, "decisions", "--request", "req-nope", "--server", url)
	if code != ExitError || !strings.Contains(stderr, "not_found") {
		t.Errorf("unknown request = %d %s", code, stderr)
	}
}

// The ledger of this build answers the list RPCs Unimplemented: each command says so
// plainly and exits 2.
func TestAuditCommandsUnimplemented(t *testing.T) {
	url := newAuditDouble(t, &auditDouble{unimplemented: true})
	for _, tc := range []struct {
		args []string
		rpc  string
	}{
		{[]string{"artifacts", "list"}, "ListArtifacts"},
		{[]string{"affected", "CVE-2026-0001"}, "ListAffected"},
		{[]string{"decisions"}, "ListDecisions"},
	} {
		t.Run(tc.rpc, func(t *testing.T) {
			stdout, stderr, code := run(t, append(tc.args, "--server", url)...)
			if code != ExitError || stdout != "" || !strings.Contains(stderr, "does not offer "+tc.rpc+" yet") ||
				!strings.Contains(stderr, "not available in this build") || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

func TestAuditUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"affected"}, "name a vulnerability"},
		{[]string{"affected", "left-pad"}, "neither a vulnerability id"},
		{[]string{"affected", "CVE-2026-1", "--ecosystem", "npm", "--name", "x"}, "not both"},
		{[]string{"affected", "--name", "x"}, "go together"},
		{[]string{"affected", "CVE-1-2", "CVE-3-4"}, "name one"},
		{[]string{"artifacts"}, "artifacts list"},
		{[]string{"artifacts", "list", "--status", "shipped"}, "--status"},
		{[]string{"artifacts", "list", "--limit", "501"}, "--limit"},
		{[]string{"artifacts", "list", "--since", "last tuesday"}, "--since"},
		{[]string{"artifacts", "list", "-o", "yaml"}, "use table or json"},
		{[]string{"decisions", "reg/app:latest"}, "does not end in a sha256 digest"},
		{[]string{"decisions", "--verdict", "maybe"}, "--verdict"},
		{[]string{"decisions", "--request", "r", "--verdict", "denied"}, "give it alone"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != ExitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q, want 2 mentioning %q", code, stderr, tc.want)
			}
		})
	}
}

// The token goes with every request, REST and Connect, to the server only; it is
// refused over plain http to another host, and -h never prints it.
func TestTokenSentOnEveryRequest(t *testing.T) {
	d := &auditDouble{}
	url := newAuditDouble(t, d)
	var restAuth, elsewhereAuth string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereAuth = r.Header.Get("Authorization")
		_, _ = w.Write([]byte(`{"digest":"` + testDigest + `"}`))
	}))
	t.Cleanup(elsewhere.Close)
	rest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		restAuth = r.Header.Get("Authorization")
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(rest.Close)

	t.Setenv("CUSTODY_TOKEN", "from-env-123")
	if _, stderr, code := run(t, "decisions", "--server", url); code != ExitOK || d.authByRPC["ListDecisions"] != "Bearer from-env-123" {
		t.Errorf("Connect call: exit %d %s, Authorization %q", code, stderr, d.authByRPC["ListDecisions"])
	}
	if _, stderr, code := run(t, "affected", "CVE-2026-0001", "--token", "from-flag-456", "--server", url); code != ExitOK ||
		d.authByRPC["ListAffected"] != "Bearer from-flag-456" {
		t.Errorf("--token: exit %d %s, Authorization %q", code, stderr, d.authByRPC["ListAffected"])
	}
	if _, stderr, code := run(t, "provenance", testDigest, "--server", rest.URL); code != ExitOK || restAuth != "Bearer from-env-123" {
		t.Errorf("REST call: exit %d %s, Authorization %q", code, stderr, restAuth)
	}
	if elsewhereAuth != "" {
		t.Errorf("the token followed a redirect to another server: %q", elsewhereAuth)
	}
	if _, stderr, code := run(t, "decisions", "--server", "http://custody.example:8080"); code != ExitError ||
		!strings.Contains(stderr, "only over https") {
		t.Errorf("token over plain http to another host: exit %d %s", code, stderr)
	}
	if _, stderr, code := run(t, "decisions", "--token", "a b", "--server", url); code != ExitError || !strings.Contains(stderr, "--token") {
		t.Errorf("token with a space: exit %d %s", code, stderr)
	}
	if _, stderr, _ := run(t, "decisions", "-h"); strings.Contains(stderr, "from-env-123") || !strings.Contains(stderr, "-token") {
		t.Errorf("-h shows the token or lacks --token:\n%s", stderr)
	}
}

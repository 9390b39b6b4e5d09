package pages_test

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/custody-dev/custody/pkg/httpsec"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

func TestHostileDataStaysText(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	p := provenanceA()
	p.Image = "reg.example/" + hostile
	p.Build.SourceRepository = "javascript:alert(1)//" + hostile
	p.Build.BuilderId = hostile
	p.Attestations[0].PredicateType = hostile
	p.Decisions[0].Reasons = []string{hostile}
	p.Decisions[0].RequestId = `"><script>alert(2)</script>`
	p.Timeline[0].Type = hostile
	p.Promotions[0].Error = hostile
	e.api.provenance[digestA] = p
	e.api.decisions["x"] = &auditv1.Decision{RequestId: "x", Digest: `javascript:alert(1)`, Reasons: []string{hostile},
		AttestationDigests: []string{`"><script>alert(3)</script>`}, PolicyName: hostile}
	e.api.artifacts = &auditv1.ListArtifactsResponse{Artifacts: []*auditv1.ArtifactSummary{{Digest: `javascript:alert(1)`, Image: hostile,
		SourceRepository: hostile, PredicateTypes: []string{hostile}, PromotedImages: []string{hostile}}}}
	e.api.affected = &auditv1.ListAffectedResponse{Artifacts: []*auditv1.AffectedArtifact{{Digest: digestA, Image: hostile,
		Matches: []*auditv1.PackageMatch{{Purl: hostile, VulnerabilityId: hostile, FixedVersions: []string{hostile}}}}}}
	for _, path := range []string{"/ui/artifacts/" + digestA, "/ui/decisions/x", "/ui/?source=%3Cscript%3E", "/ui/affected?vuln=CVE-1"} {
		w := e.get(path, s)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		body := w.Body.String()
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") || regexp.MustCompile(`href="javascript:`).MatchString(body) {
			t.Errorf("%s: hostile data became markup:\n%s", path, body)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s: the hostile text is not shown as text", path)
		}
	}
	// The hostile digest became a path under /ui/artifacts/, never a javascript: link.
	if body := e.get("/ui/", s).Body.String(); !strings.Contains(body, `href="/ui/artifacts/javascript:alert%281%29"`) {
		t.Errorf("artifact link of a hostile digest:\n%s", body)
	}
	// A hostile path reaches the error page as text too.
	w := e.get("/ui/artifacts/%3Cscript%3Ealert(1)%3C%2Fscript%3E", s)
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "<script") || !strings.Contains(w.Body.String(), "&lt;script&gt;") {
		t.Errorf("hostile digest in the path: %d %s", w.Code, w.Body)
	}
}

func TestErrorMapping(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	e.api.provenance[digestA] = provenanceA()
	for _, tc := range []struct {
		name   string
		err    error
		path   string
		status int
		msg    string
	}{
		{"not found", connect.NewError(connect.CodeNotFound, errors.New("nothing is recorded about artifact X")), "/ui/artifacts/" + digestA, 404, "nothing is recorded about artifact X"},
		{"invalid argument", connect.NewError(connect.CodeInvalidArgument, errors.New("since must be before until")), "/ui/", 400, "since must be before until"},
		{"permission denied", connect.NewError(connect.CodePermissionDenied, errors.New("forbidden: out of scope")), "/ui/decisions/r", 403, "forbidden: out of scope"},
		{"unavailable", connect.NewError(connect.CodeUnavailable, errors.New("database password=hunter2 down")), "/ui/affected?vuln=CVE-1", 503, "try again shortly"},
		{"internal", connect.NewError(connect.CodeInternal, errors.New("sql: password=hunter2")), "/ui/artifacts/" + digestA, 500, "could not be shown"},
		{"plain error", errors.New("password=hunter2"), "/ui/artifacts/" + digestA + "/bundle", 500, "could not be shown"},
		{"unimplemented outside a list", connect.NewError(connect.CodeUnimplemented, errors.New("password=hunter2")), "/ui/artifacts/" + digestA, 500, "could not be shown"},
		{"bad digest", nil, "/ui/artifacts/sha256:abc", 400, "is not an artifact digest"},
		{"bad status", nil, "/ui/?status=gone", 400, "status &#34;gone&#34; is not one of"},
		{"bad time", nil, "/ui/?since=yesterday", 400, "since &#34;yesterday&#34; is not a time"},
		{"repeated field", nil, "/ui/?commit=a&commit=b", 400, "commit is given 2 times"},
		{"control character", nil, "/ui/?commit=a%00b", 400, "commit has control characters"},
		{"invalid UTF-8", nil, "/ui/affected?vuln=%ff", 400, "vuln is not valid UTF-8"},
		{"malformed query", nil, "/ui/?commit=%zz", 400, "malformed"},
		{"overlong query", nil, "/ui/?commit=" + strings.Repeat("a", 9000), 400, "longer than"},
		{"two searches", nil, "/ui/affected?vuln=CVE-1&purl=pkg:npm/x", 400, "give one search"},
		{"package without a name", nil, "/ui/affected?ecosystem=npm", 400, "needs both an ecosystem and a name"},
		{"bad checkbox", nil, "/ui/affected?vuln=CVE-1&promoted=maybe", 400, "promoted"},
		{"overlong request id", nil, "/ui/decisions/" + strings.Repeat("r", 513), 400, "1-512 bytes"},
		{"no such page", nil, "/ui/nothing/here", 404, "no such page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.api.err = tc.err
			w := e.get(tc.path, s)
			body := w.Body.String()
			if w.Code != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("%d %s: want %d with %q", w.Code, body, tc.status, tc.msg)
			}
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q: want an HTML error page", w.Header().Get("Content-Type"))
			}
			if strings.Contains(body, "hunter2") {
				t.Error("a server-side error's text reached the page")
			}
			if tc.status >= 500 && !strings.Contains(body, `<code id="request-id">`+w.Header().Get(httpsec.HeaderRequestID)+"</code>") {
				t.Error("the 5xx page does not show the request id")
			}
		})
	}
	e.api.err = connect.NewError(connect.CodeUnauthenticated, errors.New("session ended"))
	if w := e.get("/ui/artifacts/"+digestA, s); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
		t.Errorf("unauthenticated: %d %q", w.Code, w.Header().Get("Location"))
	}
	if !strings.Contains(e.log.String(), "hunter2") || !strings.Contains(e.log.String(), `"msg":"page failed"`) {
		t.Error("a server-side failure was not logged for the operator")
	}
}

// The API's authorization decides what a page shows; where the API decides nothing,
// the page requires read itself.
func TestAuthorizationThroughAPI(t *testing.T) {
	e := newEnv(t)
	e.api.provenance[digestA] = provenanceA()
	e.api.artifacts = &auditv1.ListArtifactsResponse{}
	for _, apiDecides := range []bool{false, true} {
		e.api.guard = nil
		if apiDecides {
			e.api.guard = e.guard
		}
		for _, tc := range []struct {
			token  string
			status int
		}{{"auditor", 200}, {"ci", 403}, {"team-a", 403}} {
			e.api.artifacts = &auditv1.ListArtifactsResponse{}
			s := e.login(t, tc.token)
			w := e.get("/ui/artifacts/"+digestA, s)
			if w.Code != tc.status {
				t.Errorf("API decides %v, %s: %d, want %d", apiDecides, tc.token, w.Code, tc.status)
			}
			if tc.status != 200 && strings.Contains(w.Body.String(), "0123abc") {
				t.Errorf("API decides %v, %s: a refused page shows the evidence", apiDecides, tc.token)
			}
		}
	}
}

// Pages that show no evidence (a bare form, an error, a redirect) need read within the
// caller's own scopes: a scoped auditor uses them, a pipeline token does not.
func TestNoDataPagesWithinScopes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		token, path string
		status      int
	}{
		{"team-a", "/ui/affected", 200},
		{"team-a", "/ui/?status=gone", 400},
		{"team-a", "/ui/artifacts?artifact=" + digestA, 303},
		{"team-a", "/ui/nothing", 404},
		{"ci", "/ui/affected", 403},
		{"ci", "/ui/?status=gone", 403},
		{"ci", "/ui/artifacts?artifact=" + digestA, 403},
		{"auditor", "/ui/affected", 200},
	} {
		s := e.login(t, tc.token)
		if w := e.get(tc.path, s); w.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.token, tc.path, w.Code, tc.status)
		}
	}
}

var (
	inlineRE   = regexp.MustCompile(`(?i)<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)
	externalRE = regexp.MustCompile(`(?i)(src|href|action)\s*=\s*"(https?:)?//`)
)

// No page has inline script or style, an event handler attribute or a resource from
// elsewhere: the templates as written, and every page as rendered.
func TestNoInlineScriptOrStyle(t *testing.T) {
	err := filepath.WalkDir("templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := inlineRE.FindString(string(b)); m != "" {
			t.Errorf("%s has %q", path, m)
		}
		if m := externalRE.FindString(string(b)); m != "" {
			t.Errorf("%s loads %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	css, err := os.ReadFile("static/custody.css")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`@import|url\(`).Match(css) {
		t.Error("the style sheet loads something")
	}

	e := newEnv(t)
	s := e.login(t, "auditor")
	p := provenanceA()
	e.api.provenance[digestA] = p
	e.api.decisions["req-1"] = p.Decisions[0]
	e.api.promotions["req-1"] = p.Promotions[0]
	e.api.artifacts = &auditv1.ListArtifactsResponse{NextPageToken: "n", Artifacts: []*auditv1.ArtifactSummary{{Digest: digestA}}}
	e.api.affected = &auditv1.ListAffectedResponse{Artifacts: []*auditv1.AffectedArtifact{{Digest: digestA,
		Matches: []*auditv1.PackageMatch{{Purl: "pkg:npm/x@1"}}}}}
	pages := map[string]*session{"/ui/login": nil, "/ui/": s, "/ui/artifacts/" + digestA: s, "/ui/decisions/req-1": s,
		"/ui/affected?vuln=CVE-1": s, "/ui/affected": s, "/ui/artifacts/sha256:bad": s, "/ui/decisions/none": s}
	for path, sess := range pages {
		w := e.get(path, sess)
		body := w.Body.String()
		if !strings.Contains(body, "<html") {
			t.Errorf("%s: %d, not a page", path, w.Code)
		}
		if m := inlineRE.FindString(body); m != "" {
			t.Errorf("%s has %q", path, m)
		}
		if m := externalRE.FindString(body); m != "" {
			t.Errorf("%s loads %q", path, m)
		}
		if !strings.Contains(body, `<link rel="stylesheet" href="/ui/static/custody.css">`) {
			t.Errorf("%s does not use the style sheet", path)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	e.api.provenance[digestA] = provenanceA()
	for path, sess := range map[string]*session{"/ui/login": nil, "/ui/static/custody.css": nil, "/ui/artifacts/" + digestA: s,
		"/ui/decisions/none": s, "/ui/": nil} {
		w := e.get(path, sess)
		h := w.Header()
		// The pages profile, spelled out: a change to httpsec.CSPPages must be seen here.
		if got := h.Get("Content-Security-Policy"); got != "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" {
			t.Errorf("%s: CSP %q", path, got)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get(httpsec.HeaderRequestID) == "" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
}

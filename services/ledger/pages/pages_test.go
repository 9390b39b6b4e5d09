package pages_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/custody-dev/custody/pkg/auth"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
	"github.com/custody-dev/custody/services/ledger/pages"
)

// fakeAudit is a TEST DOUBLE of auditv1connect.AuditServiceHandler (the ledger's real
// one needs a database and a bus; the browser test in ./browsertest drives the real
// one). It answers what a test set, records the requests it got and the principal on
// their context, and, when guard is set, authorises read with CheckContext as the
// ledger's handlers do, answering PermissionDenied on a refusal. Whatever it does not
// set answers Unimplemented (the embedded handler).
type fakeAudit struct {
	auditv1connect.UnimplementedAuditServiceHandler
	guard *auth.Guard
	err   error // when set, every call answers it

	mu         sync.Mutex
	provenance map[string]*auditv1.Provenance
	artifacts  *auditv1.ListArtifactsResponse
	affected   *auditv1.ListAffectedResponse
	decisions  map[string]*auditv1.Decision
	promotions map[string]*auditv1.Promotion
	bundles    map[string][]byte
	calls      []string
	principals []string
	lastList   *auditv1.ListArtifactsRequest
	lastAffect *auditv1.ListAffectedRequest
}

func newFakeAudit() *fakeAudit {
	return &fakeAudit{provenance: map[string]*auditv1.Provenance{}, decisions: map[string]*auditv1.Decision{},
		promotions: map[string]*auditv1.Promotion{}, bundles: map[string][]byte{}}
}

// enter records a call and authorises it like the ledger's handlers.
func (f *fakeAudit) enter(ctx context.Context, name string) error {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	p, _ := auth.PrincipalFrom(ctx)
	f.principals = append(f.principals, p.ID)
	f.mu.Unlock()
	if f.guard != nil {
		if err := f.guard.CheckContext(ctx, auth.ActionRead, auth.Resource{Name: name}); err != nil {
			return connect.NewError(connect.CodePermissionDenied, err)
		}
	}
	return f.err
}

func (f *fakeAudit) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func notFound(what string) error {
	return connect.NewError(connect.CodeNotFound, errors.New("nothing is recorded about "+what))
}

func (f *fakeAudit) GetProvenance(ctx context.Context, req *connect.Request[auditv1.GetProvenanceRequest]) (*connect.Response[auditv1.GetProvenanceResponse], error) {
	if err := f.enter(ctx, "GetProvenance"); err != nil {
		return nil, err
	}
	p, ok := f.provenance[req.Msg.GetArtifact()]
	if !ok {
		return nil, notFound("artifact " + req.Msg.GetArtifact())
	}
	return connect.NewResponse(&auditv1.GetProvenanceResponse{Provenance: p}), nil
}

func (f *fakeAudit) ListArtifacts(ctx context.Context, req *connect.Request[auditv1.ListArtifactsRequest]) (*connect.Response[auditv1.ListArtifactsResponse], error) {
	if err := f.enter(ctx, "ListArtifacts"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.lastList = req.Msg
	f.mu.Unlock()
	if f.artifacts == nil {
		return f.UnimplementedAuditServiceHandler.ListArtifacts(ctx, req)
	}
	return connect.NewResponse(f.artifacts), nil
}

func (f *fakeAudit) ListAffected(ctx context.Context, req *connect.Request[auditv1.ListAffectedRequest]) (*connect.Response[auditv1.ListAffectedResponse], error) {
	if err := f.enter(ctx, "ListAffected"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.lastAffect = req.Msg
	f.mu.Unlock()
	if f.affected == nil {
		return f.UnimplementedAuditServiceHandler.ListAffected(ctx, req)
	}
	return connect.NewResponse(f.affected), nil
}

func (f *fakeAudit) GetDecision(ctx context.Context, req *connect.Request[auditv1.GetDecisionRequest]) (*connect.Response[auditv1.GetDecisionResponse], error) {
	if err := f.enter(ctx, "GetDecision"); err != nil {
		return nil, err
	}
	d, ok := f.decisions[req.Msg.GetRequestId()]
	if !ok {
		return nil, notFound("promotion request " + req.Msg.GetRequestId())
	}
	return connect.NewResponse(&auditv1.GetDecisionResponse{Decision: d}), nil
}

func (f *fakeAudit) GetPromotion(ctx context.Context, req *connect.Request[auditv1.GetPromotionRequest]) (*connect.Response[auditv1.GetPromotionResponse], error) {
	if err := f.enter(ctx, "GetPromotion"); err != nil {
		return nil, err
	}
	p, ok := f.promotions[req.Msg.GetRequestId()]
	if !ok {
		return nil, notFound("promotion request " + req.Msg.GetRequestId())
	}
	return connect.NewResponse(&auditv1.GetPromotionResponse{Promotion: p, Decision: f.decisions[req.Msg.GetRequestId()]}), nil
}

func (f *fakeAudit) ExportBundle(ctx context.Context, req *connect.Request[auditv1.ExportBundleRequest]) (*connect.Response[auditv1.ExportBundleResponse], error) {
	if err := f.enter(ctx, "ExportBundle"); err != nil {
		return nil, err
	}
	b, ok := f.bundles[req.Msg.GetArtifact()]
	if !ok {
		return nil, notFound("artifact " + req.Msg.GetArtifact())
	}
	return connect.NewResponse(&auditv1.ExportBundleResponse{Bundle: b, MediaType: "text/html"}), nil
}

// env is the pages over a fakeAudit, with a real auth.Guard over static tokens: an
// auditor, a pipeline token (no read) and a scoped auditor.
type env struct {
	api      *fakeAudit
	h        http.Handler
	guard    *auth.Guard
	tokens   map[string]string
	sessions *auth.Sessions
	log      *bytes.Buffer
}

func newEnv(t *testing.T, gopts ...auth.GuardOption) *env {
	t.Helper()
	e := &env{api: newFakeAudit(), tokens: map[string]string{}, log: &bytes.Buffer{}}
	var entries []auth.TokenEntry
	for _, g := range []struct {
		name   string
		roles  []auth.Role
		scopes []string
	}{
		{"auditor", []auth.Role{auth.RoleAuditor}, nil},
		{"ci", []auth.Role{auth.RolePipeline}, nil},
		{"team-a", []auth.Role{auth.RoleAuditor}, []string{"reg.example/team-a"}},
	} {
		tok := auth.GenerateToken()
		e.tokens[g.name] = tok
		entries = append(entries, auth.TokenEntry{Name: g.name, SHA256: auth.HashToken(tok), Roles: g.roles, Scopes: g.scopes})
	}
	store, err := auth.NewTokenStore(entries...)
	if err != nil {
		t.Fatal(err)
	}
	if e.sessions, err = auth.NewSessions(); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(auth.WithTokens(store), auth.WithSessions(e.sessions))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(e.log, nil))
	e.guard, err = auth.NewGuard(authn, logger, append([]auth.GuardOption{auth.WithSessionAuth(),
		auth.WithLoginRedirect(pages.LoginPath), auth.WithRateLimit(1000, 1000)}, gopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ph, err := pages.New(e.api, e.guard, pages.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	e.h = ph
	return e
}

// session is a logged-in browser: its cookie and the CSRF token its pages carry.
type session struct {
	cookie *http.Cookie
	csrf   string
}

func (e *env) do(r *http.Request, s *session) *httptest.ResponseRecorder {
	r.RemoteAddr = "192.0.2.7:40000"
	if s != nil {
		r.AddCookie(s.cookie)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *env) get(path string, s *session) *httptest.ResponseRecorder {
	return e.do(httptest.NewRequest(http.MethodGet, path, nil), s)
}

func (e *env) post(path string, form url.Values, s *session, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return e.do(r, s)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// login logs in with the named token through the form and reads the CSRF token from
// the page the login leads to.
func (e *env) login(t *testing.T, name string) *session {
	t.Helper()
	w := e.post(pages.LoginPath, url.Values{"token": {e.tokens[name]}}, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != pages.Prefix {
		t.Fatalf("login as %s: %d (Location %q) %s", name, w.Code, w.Header().Get("Location"), w.Body)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("login set %d cookies", len(cs))
	}
	s := &session{cookie: &http.Cookie{Name: cs[0].Name, Value: cs[0].Value}}
	e.api.artifacts = &auditv1.ListArtifactsResponse{}
	page := e.get(pages.Prefix, s)
	e.api.artifacts = nil
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("the page after login has no logout form with a CSRF token: %d %s", page.Code, page.Body)
	}
	s.csrf = m[1]
	return s
}

func TestLoginSetsSessionCookie(t *testing.T) {
	e := newEnv(t)
	w := e.post(pages.LoginPath, url.Values{"token": {e.tokens["auditor"]}}, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/" {
		t.Fatalf("login: %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	raw := w.Result().Header.Values("Set-Cookie")
	if len(raw) != 1 {
		t.Fatalf("Set-Cookie %q: want exactly one", raw)
	}
	c, err := http.ParseSetCookie(raw[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "__Host-custody_session" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode ||
		c.Path != "/" || c.Domain != "" || c.MaxAge <= 0 || len(c.Value) < 40 {
		t.Errorf("session cookie %q: want __Host-custody_session, Secure, HttpOnly, SameSite=Strict, Path=/, no Domain, a lifetime", raw[0])
	}
	if strings.Contains(raw[0], e.tokens["auditor"]) {
		t.Error("the cookie carries the token")
	}
	if e.sessions.Len() != 1 {
		t.Errorf("%d sessions, want 1", e.sessions.Len())
	}
	// The login form itself needs no session and shows the token field.
	if w := e.get(pages.LoginPath, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="token"`) {
		t.Errorf("login form: %d %s", w.Code, w.Body)
	}
}

func TestLoginRefusals(t *testing.T) {
	e := newEnv(t, auth.WithFailureLimit(0.001, 3))
	wrong := auth.GenerateToken()
	for _, tc := range []struct {
		name   string
		form   url.Values
		hdr    []string
		status int
		msg    string
	}{
		{"wrong token", url.Values{"token": {wrong}}, nil, 401, "That token was not accepted"},
		{"hostile token", url.Values{"token": {`custody_<script>alert(1)</script>`}}, nil, 401, "That token was not accepted"},
		{"empty", url.Values{}, nil, 401, "That token was not accepted"},
		{"two tokens", url.Values{"token": {e.tokens["auditor"], e.tokens["ci"]}}, nil, 400, "could not be read"},
		{"cross-site", url.Values{"token": {e.tokens["auditor"]}}, []string{"Sec-Fetch-Site", "cross-site"}, 403, "own login page"},
		{"rate limited", url.Values{"token": {e.tokens["auditor"]}}, nil, 429, "Too many failed logins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.post(pages.LoginPath, tc.form, nil, tc.hdr...)
			body := w.Body.String()
			if w.Code != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("%d %s: want %d with %q", w.Code, body, tc.status, tc.msg)
			}
			if !strings.Contains(body, `name="token"`) {
				t.Error("the form is not shown again")
			}
			for _, v := range tc.form["token"] {
				if v != "" && strings.Contains(body, v) || strings.Contains(body, "alert(1)") {
					t.Errorf("the page echoes the token %q", v)
				}
			}
			if len(w.Result().Cookies()) != 0 {
				t.Error("a refused login set a cookie")
			}
		})
	}
	if strings.Contains(e.log.String(), wrong) || strings.Contains(e.log.String(), e.tokens["auditor"]) {
		t.Error("a token reached the log")
	}
}

func TestPagesNeedSession(t *testing.T) {
	e := newEnv(t)
	forged := &session{cookie: &http.Cookie{Name: auth.SessionCookie, Value: "forged"}}
	for _, path := range []string{"/ui/", "/ui/?source=x", "/ui/artifacts/sha256:" + strings.Repeat("a", 64),
		"/ui/artifacts/sha256:" + strings.Repeat("a", 64) + "/bundle", "/ui/decisions/req-1", "/ui/affected?vuln=CVE-1",
		"/ui/artifacts?artifact=x", "/ui/no-such-page"} {
		for _, s := range []*session{nil, forged} {
			w := e.get(path, s)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != pages.LoginPath {
				t.Errorf("GET %s (cookie %v): %d, Location %q; want 303 to the login form", path, s != nil, w.Code, w.Header().Get("Location"))
			}
		}
	}
	if n := e.api.callCount(); n != 0 {
		t.Errorf("the API was called %d times without a session", n)
	}
	// The style sheet is public: the login form needs it.
	if w := e.get(pages.StylePath, nil); w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestLogoutNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "auditor")
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf_token": {"nope"}}, nil},
		{"cross-site", url.Values{"csrf_token": {s.csrf}}, []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := e.post(pages.LogoutPath, tc.form, s, tc.hdr...); w.Code != http.StatusForbidden {
				t.Errorf("logout: %d, want 403", w.Code)
			}
			if e.sessions.Len() != 1 {
				t.Error("the session ended without the CSRF token")
			}
		})
	}
	if w := e.post(pages.LogoutPath, url.Values{"csrf_token": {s.csrf}}, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("logout without a session: %d, want 401", w.Code)
	}
	w := e.post(pages.LogoutPath, url.Values{"csrf_token": {s.csrf}}, s)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != pages.LoginPath {
		t.Fatalf("logout: %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].Name != auth.SessionCookie || c[0].MaxAge >= 0 {
		t.Errorf("logout cookies %v: want the session cookie deleted", c)
	}
	if w := e.get(pages.Prefix, s); w.Code != http.StatusSeeOther || w.Header().Get("Location") != pages.LoginPath {
		t.Errorf("the ended session still opens pages: %d", w.Code)
	}
	// A principal that may read nothing can still log out.
	ci := &session{}
	w = e.post(pages.LoginPath, url.Values{"token": {e.tokens["ci"]}}, nil)
	ci.cookie = w.Result().Cookies()[0]
	page := e.get("/ui/no-such-page", ci)
	if page.Code != http.StatusForbidden {
		t.Fatalf("a pipeline token on the pages: %d, want 403", page.Code)
	}
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatal("the 403 page has no logout form")
	}
	if w := e.post(pages.LogoutPath, url.Values{"csrf_token": {m[1]}}, ci); w.Code != http.StatusSeeOther {
		t.Errorf("pipeline logout: %d", w.Code)
	}
}

package auth_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
)

// pages is a page server: POST /login and POST /logout outside the middleware
// (logout behind it too, to be CSRF-checked), GET /page and POST /action behind it.
type pages struct {
	*fixture
	sessions *auth.Sessions
	handler  http.Handler
	login    auth.Session
}

func newPages(t *testing.T, sopts ...auth.SessionOption) *pages {
	t.Helper()
	return newPagesWith(t, nil, sopts...)
}

// newPagesWith is newPages with more guard options.
func newPagesWith(t *testing.T, gopts []auth.GuardOption, sopts ...auth.SessionOption) *pages {
	t.Helper()
	clk := newClock()
	s, err := auth.NewSessions(append([]auth.SessionOption{auth.WithSessionClock(clk.now)}, sopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureAt(t, clk, append([]auth.GuardOption{auth.WithSessionAuth()}, gopts...), auth.WithSessions(s))
	p := &pages{fixture: f, sessions: s}
	protected := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, _ := auth.PrincipalFrom(r.Context())
		_, _ = io.WriteString(w, string(pr.Method)+" "+pr.ID)
	})
	protected.Handle("GET /page", f.guard.Require(auth.ActionRead, nil, ok))
	protected.Handle("GET /form", f.guard.Require(auth.ActionRead, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := auth.SessionFrom(r.Context())
		if !ok {
			_, _ = io.WriteString(w, "no session")
			return
		}
		_, _ = io.WriteString(w, `<input type="hidden" name="csrf_token" value="`+sess.CSRFToken+`">`)
	})))
	protected.Handle("POST /action", f.guard.Require(auth.ActionRead, nil, ok))
	protected.Handle("POST /logout", f.guard.Require(auth.ActionRead, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.guard.Logout(w, r)
		w.WriteHeader(http.StatusNoContent)
	})))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess, err := f.guard.Login(w, r, r.PostFormValue("token"))
		if err != nil {
			httpsec.WriteError(w, r, err)
			return
		}
		p.login = sess
		w.WriteHeader(http.StatusSeeOther)
	})
	mux.Handle("/", f.guard.Middleware(protected))
	p.handler, err = httpsec.Harden(slog.New(slog.DiscardHandler), mux, httpsec.WithProfile(httpsec.Pages))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pages) post(path string, form url.Values, cookie *http.Cookie, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	p.handler.ServeHTTP(w, r)
	return w
}

func (p *pages) get(path string, cookie *http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	p.handler.ServeHTTP(w, r)
	return w
}

// loginCookie logs in with the named token and returns the session cookie.
func (p *pages) loginCookie(t *testing.T, token string) *http.Cookie {
	t.Helper()
	w := p.post("/login", url.Values{"token": {p.tok[token]}}, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("%d cookies", len(cs))
	}
	return &http.Cookie{Name: cs[0].Name, Value: cs[0].Value}
}

func TestSessionLogin(t *testing.T) {
	p := newPages(t)
	w := p.post("/login", url.Values{"token": {p.tok["auditor"]}}, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	raw := w.Header().Values("Set-Cookie")
	if len(raw) != 1 {
		t.Fatalf("Set-Cookie %q", raw)
	}
	// The exact attributes, as the browser sees them.
	attrs := strings.Split(raw[0], "; ")
	name, value, _ := strings.Cut(attrs[0], "=")
	if name != "__Host-custody_session" || len(value) < 40 {
		t.Errorf("cookie %q", attrs[0])
	}
	if strings.Contains(raw[0], p.tok["auditor"]) {
		t.Error("the cookie holds the token")
	}
	got := map[string]bool{}
	for _, a := range attrs[1:] {
		k, _, _ := strings.Cut(a, "=")
		got[k] = true
	}
	for _, want := range []string{"Path", "Expires", "Max-Age", "HttpOnly", "Secure", "SameSite"} {
		if !got[want] {
			t.Errorf("attribute %s missing from %q", want, raw[0])
		}
	}
	for _, a := range attrs[1:] {
		switch {
		case strings.HasPrefix(a, "Path="):
			if a != "Path=/" {
				t.Errorf("%s", a)
			}
		case strings.HasPrefix(a, "SameSite="):
			if a != "SameSite=Strict" {
				t.Errorf("%s", a)
			}
		case strings.HasPrefix(a, "Max-Age="):
			if a != "Max-Age=28800" {
				t.Errorf("%s, want the 8h lifetime", a)
			}
		case strings.HasPrefix(a, "Domain="):
			t.Errorf("a __Host- cookie must have no Domain: %s", a)
		}
	}
	if p.login.CSRFToken == "" || p.login.Principal.Method != auth.MethodSession || p.login.Principal.ID != "token:auditor" {
		t.Errorf("session %+v", p.login)
	}
	c := &http.Cookie{Name: name, Value: value}
	if w := p.get("/page", c); w.Code != 200 || w.Body.String() != "session token:auditor" {
		t.Errorf("page with the session: %d %q", w.Code, w.Body)
	}
	if rec := p.audit.records(t); rec[0]["event"] != "login" || rec[0]["decision"] != "allow" || rec[0]["principal"] != "token:auditor" {
		t.Errorf("login audit %v", rec[0])
	}
}

func TestSessionLoginRefused(t *testing.T) {
	p := newPages(t)
	for _, tc := range []struct {
		name  string
		token string
		hdr   []string
		code  int
	}{
		{"unknown token", auth.GenerateToken(), nil, 401},
		{"expired token", p.tok["expired"], nil, 401},
		{"empty", "", nil, 401},
		{"cross-site form", p.tok["auditor"], []string{"Sec-Fetch-Site", "cross-site"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := p.post("/login", url.Values{"token": {tc.token}}, nil, tc.hdr...)
			if w.Code != tc.code || len(w.Result().Cookies()) != 0 {
				t.Errorf("status %d, cookies %v", w.Code, w.Result().Cookies())
			}
			if rec := p.audit.last(t); rec["event"] != "login" || rec["decision"] != "deny" {
				t.Errorf("audit %v", rec)
			}
			if tc.token != "" && strings.Contains(p.audit.String(), tc.token) {
				t.Error("audit log holds the token")
			}
		})
	}
}

func TestSessionCSRF(t *testing.T) {
	p := newPages(t)
	c := p.loginCookie(t, "auditor")
	csrf := p.login.CSRFToken
	p.loginCookie(t, "admin") // p.login is now the admin's session
	for _, tc := range []struct {
		name   string
		form   url.Values
		hdr    []string
		status int
	}{
		{"no CSRF token", url.Values{}, nil, 403},
		{"wrong CSRF token", url.Values{"csrf_token": {"x" + csrf[1:]}}, nil, 403},
		{"another session's CSRF token", url.Values{"csrf_token": {p.login.CSRFToken}}, nil, 403},
		{"right token in the form", url.Values{"csrf_token": {csrf}}, nil, 200},
		{"right token in the header", url.Values{}, []string{"X-CSRF-Token", csrf}, 200},
		{"right token, cross-site", url.Values{"csrf_token": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"right token, same-origin", url.Values{"csrf_token": {csrf}}, []string{"Sec-Fetch-Site", "same-origin"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := p.post("/action", tc.form, c, tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 403 {
				if rec := p.audit.last(t); rec["reason"] != "csrf" || rec["principal"] != "token:auditor" {
					t.Errorf("audit %v", rec)
				}
			}
		})
	}
	// A bearer token is not subject to the session's CSRF check.
	w := p.post("/action", url.Values{}, nil, "Authorization", bearer(p.tok["auditor"]))
	if w.Code != 200 || w.Body.String() != "token token:auditor" {
		t.Errorf("bearer POST: %d %q", w.Code, w.Body)
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		p := newPages(t, auth.WithSessionTTL(8*time.Hour, time.Hour))
		c := p.loginCookie(t, "auditor")
		p.clk.advance(59 * time.Minute)
		if w := p.get("/page", c); w.Code != 200 {
			t.Fatalf("within the idle time: %d", w.Code)
		}
		p.clk.advance(59 * time.Minute) // still within an hour of the last use
		if w := p.get("/page", c); w.Code != 200 {
			t.Fatalf("use refreshes the idle time: %d", w.Code)
		}
		p.clk.advance(time.Hour)
		w := p.get("/page", c)
		if w.Code != 401 || !strings.Contains(w.Body.String(), "expired") {
			t.Fatalf("idle for an hour: %d %s", w.Code, w.Body)
		}
		if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
			t.Errorf("the dead session's cookie is not deleted: %v", cs)
		}
	})
	t.Run("lifetime", func(t *testing.T) {
		p := newPages(t, auth.WithSessionTTL(2*time.Hour, time.Hour))
		c := p.loginCookie(t, "auditor")
		for range 3 {
			p.clk.advance(50 * time.Minute)
			p.get("/page", c)
		}
		if w := p.get("/page", c); w.Code != 401 {
			t.Errorf("past the lifetime: %d", w.Code)
		}
	})
	t.Run("credential expiry", func(t *testing.T) {
		p := newPages(t)
		c := p.loginCookie(t, "short") // the token expires in 30 minutes
		if !p.login.Expires.Equal(p.clk.now().Add(30 * time.Minute)) {
			t.Errorf("session expires %v, want the token's expiry", p.login.Expires)
		}
		p.clk.advance(31 * time.Minute)
		if w := p.get("/page", c); w.Code != 401 {
			t.Errorf("past the token's expiry: %d", w.Code)
		}
	})
}

func TestSessionLogout(t *testing.T) {
	p := newPages(t)
	c := p.loginCookie(t, "auditor")
	w := p.post("/logout", url.Values{"csrf_token": {p.login.CSRFToken}}, c)
	if w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	raw := w.Header().Get("Set-Cookie")
	if !strings.HasPrefix(raw, "__Host-custody_session=;") || !strings.Contains(raw, "Max-Age=0") ||
		!strings.Contains(raw, "Secure") || !strings.Contains(raw, "Path=/") {
		t.Errorf("logout Set-Cookie %q", raw)
	}
	if rec := p.audit.last(t); rec["event"] != "logout" || rec["principal"] != "token:auditor" {
		t.Errorf("audit %v", rec)
	}
	if w := p.get("/page", c); w.Code != 401 {
		t.Errorf("the old cookie still works: %d", w.Code)
	}
	if p.sessions.Len() != 0 {
		t.Errorf("%d sessions kept", p.sessions.Len())
	}
}

func TestSessionCookieNeedsSessionAuth(t *testing.T) {
	p := newPages(t)
	c := p.loginCookie(t, "auditor")
	// An API guard (no WithSessionAuth) over the same authenticator ignores the cookie.
	api, err := auth.NewGuard(p.authn, p.audit.logger())
	if err != nil {
		t.Fatal(err)
	}
	h := api.Middleware(api.Require(auth.ActionRead, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("API accepted a session cookie: %d", w.Code)
	}
	// A bad cookie on the pages is refused, and counts as a failed authentication.
	if w := p.get("/page", &http.Cookie{Name: auth.SessionCookie, Value: "forged"}); w.Code != 401 {
		t.Errorf("forged cookie: %d", w.Code)
	}
	if _, err := auth.NewGuard(newFixture(t, nil).authn, p.audit.logger(), auth.WithSessionAuth()); err == nil {
		t.Error("session auth without sessions accepted")
	}
}

func TestSessionsBounded(t *testing.T) {
	p := newPages(t, auth.WithMaxSessions(2))
	first := p.loginCookie(t, "auditor")
	p.clk.advance(time.Second)
	second := p.loginCookie(t, "admin")
	p.clk.advance(time.Second)
	third := p.loginCookie(t, "short")
	if n := p.sessions.Len(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
	if w := p.get("/page", first); w.Code != 401 {
		t.Errorf("the oldest session survived: %d", w.Code)
	}
	for _, c := range []*http.Cookie{second, third} {
		if w := p.get("/page", c); w.Code != 200 {
			t.Errorf("a newer session was dropped: %d", w.Code)
		}
	}
	// One principal's logins evict its own oldest, not others'.
	q := newPages(t)
	other := q.loginCookie(t, "admin")
	var mine []*http.Cookie
	for range 20 {
		q.clk.advance(time.Second)
		mine = append(mine, q.loginCookie(t, "auditor"))
	}
	if w := q.get("/page", other); w.Code != 200 {
		t.Errorf("another principal's session was evicted: %d", w.Code)
	}
	if w := q.get("/page", mine[0]); w.Code != 401 {
		t.Errorf("the 21st login kept the first: %d", w.Code)
	}
	if w := q.get("/page", mine[19]); w.Code != 200 {
		t.Errorf("the newest login: %d", w.Code)
	}
	if _, err := auth.NewSessions(auth.WithSessionTTL(time.Hour, 2*time.Hour)); err == nil {
		t.Error("idle longer than the lifetime accepted")
	}
	if _, err := p.guard.Login(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil), ""); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("empty login: %v", err)
	}
}

func TestSessionFormAndLoginRedirect(t *testing.T) {
	p := newPagesWith(t, []auth.GuardOption{auth.WithLoginRedirect("/login")}, auth.WithSessionTTL(time.Hour, time.Hour))
	c := p.loginCookie(t, "auditor")
	if w := p.get("/form", c); w.Code != 200 || !strings.Contains(w.Body.String(), `value="`+p.login.CSRFToken+`"`) {
		t.Errorf("form: %d %q, want the session's CSRF token", w.Code, w.Body)
	}
	r := httptest.NewRequest("GET", "/form", nil)
	r.Header.Set("Authorization", bearer(p.tok["auditor"]))
	w := httptest.NewRecorder()
	p.handler.ServeHTTP(w, r)
	if w.Body.String() != "no session" {
		t.Errorf("bearer request: SessionFrom gave %q", w.Body)
	}
	for _, tc := range []struct {
		name   string
		method string
		cookie *http.Cookie
		authz  string
		status int
	}{
		{"GET without a credential", "GET", nil, "", http.StatusSeeOther},
		{"GET with an ended session", "GET", &http.Cookie{Name: auth.SessionCookie, Value: "gone"}, "", http.StatusSeeOther},
		{"GET with a bad token", "GET", nil, bearer(auth.GenerateToken()), http.StatusUnauthorized},
		{"POST without a credential", "POST", nil, "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/page", nil)
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			if tc.authz != "" {
				r.Header.Set("Authorization", tc.authz)
			}
			w := httptest.NewRecorder()
			p.handler.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status == http.StatusSeeOther && w.Header().Get("Location") != "/login" {
				t.Errorf("Location %q", w.Header().Get("Location"))
			}
		})
	}
	for _, bad := range []string{"https://evil.example/login", "//evil.example", "login", "/\\evil"} {
		if _, err := auth.NewGuard(p.authn, p.audit.logger(), auth.WithSessionAuth(), auth.WithLoginRedirect(bad)); err == nil {
			t.Errorf("login path %q accepted", bad)
		}
	}
	if _, err := auth.NewGuard(p.authn, p.audit.logger(), auth.WithLoginRedirect("/login")); err == nil {
		t.Error("a login redirect without session auth accepted")
	}
}

// Logout is its own authorization decision: behind Middleware without Require, a
// principal that may read nothing (a scoped pipeline token) still logs out, and the
// CSRF token is still required.
func TestSessionLogoutDecides(t *testing.T) {
	p := newPages(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess, err := p.guard.Login(w, r, r.PostFormValue("token"))
		if err != nil {
			httpsec.WriteError(w, r, err)
			return
		}
		p.login = sess
		w.WriteHeader(http.StatusSeeOther)
	})
	mux.Handle("POST /bare-logout", p.guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.guard.Logout(w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})))
	p.handler = mux
	c := p.loginCookie(t, "ci")
	if w := p.post("/bare-logout", url.Values{}, c); w.Code != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token: %d %s", w.Code, w.Body)
	}
	w := p.post("/bare-logout", url.Values{"csrf_token": {p.login.CSRFToken}}, c)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("logout: %d %s (Location %q)", w.Code, w.Body, w.Header().Get("Location"))
	}
	if p.sessions.Len() != 0 {
		t.Errorf("%d sessions kept", p.sessions.Len())
	}
}

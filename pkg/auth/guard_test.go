package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
)

func errorBody(t *testing.T, w *httptest.ResponseRecorder) httpsec.ErrorBody {
	t.Helper()
	var e httpsec.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if e.RequestID == "" || e.RequestID != w.Header().Get("X-Request-Id") {
		t.Errorf("error requestId %q, header %q", e.RequestID, w.Header().Get("X-Request-Id"))
	}
	return e
}

func TestMiddlewareAuthentication(t *testing.T) {
	f := newFixture(t, nil)
	jwtLike := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	for _, tc := range []struct {
		name    string
		headers []string // Authorization values; nil for none
		status  int
		www     string
		body    string
	}{
		{"no credentials", nil, 401, `Bearer realm="custody"`, "no credentials presented"},
		{"valid", []string{bearer(f.tok["auditor"])}, 200, "", "hello token:auditor"},
		{"scheme in lower case", []string{"bearer " + f.tok["auditor"]}, 200, "", "hello token:auditor"},
		{"basic", []string{"Basic YWRtaW46YWRtaW4="}, 401, `Bearer realm="custody", error="invalid_token"`, "Bearer <token>"},
		{"scheme only", []string{"Bearer"}, 401, `Bearer realm="custody", error="invalid_token"`, "Bearer <token>"},
		{"empty token", []string{"Bearer "}, 401, `Bearer realm="custody", error="invalid_token"`, "1 to"},
		{"two spaces", []string{"Bearer  " + f.tok["auditor"]}, 401, `Bearer realm="custody", error="invalid_token"`, "malformed"},
		{"token and more", []string{bearer(f.tok["auditor"]) + " x"}, 401, `Bearer realm="custody", error="invalid_token"`, "malformed"},
		{"two headers", []string{bearer(f.tok["auditor"]), bearer(f.tok["admin"])}, 401, `Bearer realm="custody", error="invalid_token"`, "more than one"},
		{"unknown token", []string{bearer(auth.GenerateToken())}, 401, `Bearer realm="custody", error="invalid_token"`, "unknown API token"},
		{"expired token", []string{bearer(f.tok["expired"])}, 401, `Bearer realm="custody", error="invalid_token"`, "expired"},
		{"JWT without OIDC", []string{bearer(jwtLike)}, 401, `Bearer realm="custody", error="invalid_token"`, "OIDC is not configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/read", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.www {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.www)
			}
			if tc.status == 200 {
				if w.Body.String() != tc.body {
					t.Errorf("body %q", w.Body)
				}
				return
			}
			if e := errorBody(t, w); !strings.Contains(e.Error, tc.body) {
				t.Errorf("error %q, want it to mention %q", e.Error, tc.body)
			}
			for _, tok := range f.tok {
				if strings.Contains(w.Body.String(), tok) {
					t.Errorf("answer holds a token")
				}
			}
		})
	}
}

func TestRequire(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		reason                    string
	}{
		{"auditor reads", "GET", "/read", "auditor", 200, ""},
		{"admin reads", "GET", "/read", "admin", 200, ""},
		{"pipeline cannot read evidence", "GET", "/read", "ci", 403, "do not permit read"},
		{"pipeline publishes in scope", "POST", "/publish/reg.example/team-a/app", "ci", 200, ""},
		{"pipeline publishes under a sibling prefix", "POST", "/publish/reg.example/team-ab/app", "ci", 403, "outside the scopes"},
		{"auditor cannot publish", "POST", "/publish/reg.example/team-a/app", "auditor", 403, "do not permit publish"},
		{"admin cannot publish", "POST", "/publish/reg.example/team-a/app", "admin", 403, "do not permit publish"},
		{"bad repository", "POST", "/publish/reg.example/Team-A/app", "ci", 403, "invalid repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.method, tc.path, bearer(f.tok[tc.token]), "")
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 403 {
				if e := errorBody(t, w); !strings.Contains(e.Error, tc.reason) {
					t.Errorf("error %q, want %q", e.Error, tc.reason)
				}
			}
		})
	}
}

func TestCheckContext(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		path, token string
		status      int
		decision    string
	}{
		{"/loaded/reg.example/team-a/app", "ci", 200, "allow"},
		{"/loaded/reg.example/team-b/app", "ci", 403, "deny"},
		{"/loaded/reg.example/team-b/app", "auditor", 200, "allow"},
	} {
		w := f.do("GET", tc.path, bearer(f.tok[tc.token]), "198.51.100.1:9")
		if w.Code != tc.status {
			t.Errorf("%s as %s: %d, want %d", tc.path, tc.token, w.Code, tc.status)
		}
		rec := f.audit.last(t)
		want := map[string]any{"decision": tc.decision, "action": "read-promotion", "method": "GET", "path": tc.path,
			"remote_addr": "198.51.100.1:9", "request_id": w.Header().Get("X-Request-Id"), "principal": "token:" + tc.token}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("%s as %s: audit %s = %v, want %v", tc.path, tc.token, k, rec[k], v)
			}
		}
	}
	if err := f.guard.CheckContext(context.Background(), auth.ActionRead, auth.Resource{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("no principal: %v", err)
	}
}

func TestForgottenRouteIsForbidden(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/forgotten", "/silent"} {
		t.Run(path, func(t *testing.T) {
			w := f.do("GET", path, bearer(f.tok["admin"]), "")
			if w.Code != 403 || strings.Contains(w.Body.String(), "secret") {
				t.Fatalf("status %d body %q: a route without Require must answer 403 and nothing of its own", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if rec := f.audit.last(t); rec["reason"] != "no-decision" || rec["principal"] != "token:admin" {
				t.Errorf("audit %v", rec)
			}
		})
	}
}

func TestRequireWithoutMiddleware(t *testing.T) {
	f := newFixture(t, nil)
	h := f.guard.Require(auth.ActionRead, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler called without a principal")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("status %d", w.Code)
	}
	if rec := f.audit.last(t); rec["decision"] != "deny" || rec["reason"] != "unauthenticated" {
		t.Errorf("audit %v", rec)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, []auth.GuardOption{auth.WithRateLimit(1, 3)})
	for i := range 3 {
		if w := f.do("GET", "/read", bearer(f.tok["auditor"]), "10.0.0.1:1000"); w.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i+1, w.Code)
		}
	}
	w := f.do("GET", "/read", bearer(f.tok["auditor"]), "10.0.0.9:1000") // another address, same principal
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("past the burst: status %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if e := errorBody(t, w); !strings.Contains(e.Error, "too many requests") {
		t.Errorf("error %q", e.Error)
	}
	if rec := f.audit.last(t); rec["reason"] != "rate-limited" || rec["principal"] != "token:auditor" || rec["decision"] != "deny" {
		t.Errorf("audit %v", rec)
	}
	// Another principal has its own bucket.
	if w := f.do("GET", "/read", bearer(f.tok["admin"]), "10.0.0.1:1000"); w.Code != 200 {
		t.Errorf("another principal: %d", w.Code)
	}
	f.clk.advance(time.Second)
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), "10.0.0.1:1000"); w.Code != 200 {
		t.Errorf("after a second: %d", w.Code)
	}
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), "10.0.0.1:1000"); w.Code != 429 {
		t.Errorf("the refilled token was spent, yet: %d", w.Code)
	}
}

func TestFailureLimit(t *testing.T) {
	f := newFixture(t, []auth.GuardOption{auth.WithFailureLimit(rate.Every(time.Minute), 2)})
	guess := bearer(auth.GenerateToken())
	for i := range 2 {
		if w := f.do("GET", "/read", guess, "10.0.0.1:1"); w.Code != 401 {
			t.Fatalf("guess %d: %d", i+1, w.Code)
		}
	}
	w := f.do("GET", "/read", bearer(f.tok["auditor"]), "10.0.0.1:2")
	if w.Code != 429 || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("after two failures even a valid token must wait: status %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if rec := f.audit.last(t); rec["event"] != "authenticate" || rec["reason"] != "rate-limited" {
		t.Errorf("audit %v", rec)
	}
	// Other addresses are not affected; requests without a credential do not count.
	for range 5 {
		if w := f.do("GET", "/read", "", "10.0.0.2:1"); w.Code != 401 {
			t.Fatalf("no credential: %d", w.Code)
		}
	}
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), "10.0.0.2:1"); w.Code != 200 {
		t.Errorf("requests without credentials counted as failures: %d", w.Code)
	}
	// An IPv6 /64 is one address.
	f.do("GET", "/read", guess, "[2001:db8::1]:1")
	f.do("GET", "/read", guess, "[2001:db8::2]:1")
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), "[2001:db8::3]:1"); w.Code != 429 {
		t.Errorf("same /64: %d, want 429", w.Code)
	}
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), "[2001:db8:0:1::1]:1"); w.Code != 200 {
		t.Errorf("another /64: %d", w.Code)
	}
	f.clk.advance(time.Minute)
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), "10.0.0.1:3"); w.Code != 200 {
		t.Errorf("after a minute: %d", w.Code)
	}
}

func TestLimitersBounded(t *testing.T) {
	f := newFixture(t, []auth.GuardOption{auth.WithRateLimit(rate.Every(time.Hour), 1), auth.WithMaxLimiters(2)})
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), ""); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), ""); w.Code != 429 {
		t.Fatalf("second request in an hour: %d", w.Code)
	}
	// Two more principals push the auditor's bucket out of a map of two.
	f.do("GET", "/read", bearer(f.tok["admin"]), "")
	f.do("GET", "/read", bearer(f.tok["short"]), "")
	if w := f.do("GET", "/read", bearer(f.tok["auditor"]), ""); w.Code != 200 {
		t.Errorf("the map kept more than 2 buckets: %d", w.Code)
	}
}

func TestAuditLog(t *testing.T) {
	f := newFixture(t, nil)
	unknown := auth.GenerateToken()
	steps := []struct {
		method, path, authz string
		decision, reason    string
		principal, action   string
	}{
		{"GET", "/read", bearer(f.tok["auditor"]), "allow", "granted", "token:auditor", "read"},
		{"GET", "/read", bearer(f.tok["ci"]), "deny", "role", "token:ci", "read"},
		{"POST", "/publish/reg.example/team-b/app", bearer(f.tok["ci"]), "deny", "out-of-scope", "token:ci", "publish"},
		{"POST", "/publish/reg.example/team-a/app", bearer(f.tok["ci"]), "allow", "granted", "token:ci", "publish"},
		{"GET", "/read", bearer(unknown), "deny", "unauthenticated", "", ""},
		{"GET", "/read", bearer(f.tok["expired"]), "deny", "unauthenticated", "", ""},
		{"GET", "/read", "", "deny", "unauthenticated", "", ""},
	}
	for i, s := range steps {
		before := len(f.audit.records(t))
		w := f.do(s.method, s.path, s.authz, "192.0.2.7:4242")
		recs := f.audit.records(t)
		if len(recs) != before+1 {
			t.Fatalf("step %d: %d audit records, want exactly one", i, len(recs)-before)
		}
		rec := recs[len(recs)-1]
		want := map[string]any{
			"msg": "audit", "decision": s.decision, "reason": s.reason, "principal": s.principal,
			"method": s.method, "path": s.path, "request_id": w.Header().Get("X-Request-Id"), "remote_addr": "192.0.2.7:4242",
		}
		if s.action != "" {
			want["action"] = s.action
		}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("step %d: %s = %v, want %v (record %v)", i, k, rec[k], v, rec)
			}
		}
		if s.path == "/publish/reg.example/team-b/app" {
			res, _ := rec["resource"].(map[string]any)
			if repos, _ := res["repositories"].([]any); len(repos) != 1 || repos[0] != "reg.example/team-b/app" {
				t.Errorf("step %d: resource %v", i, rec["resource"])
			}
		}
	}
	log := f.audit.String()
	for name, tok := range f.tok {
		if strings.Contains(log, tok) || strings.Contains(log, auth.HashToken(tok)) {
			t.Errorf("audit log holds token %s or its hash", name)
		}
		if strings.Contains(log, tok[len(tok)-20:]) {
			t.Errorf("audit log holds part of token %s", name)
		}
	}
	if strings.Contains(log, unknown) || strings.Contains(log, unknown[8:]) {
		t.Error("audit log holds the unknown token")
	}
}

func TestErrorsMapToStatuses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{auth.ErrUnauthenticated, 401},
		{auth.ErrNoCredentials, 401},
		{auth.ErrForbidden, 403},
		{auth.ErrCSRF, 403},
		{auth.ErrRateLimited, 429},
		{auth.Decision{Code: auth.ReasonRole, Reason: "no"}.Err(), 403},
	} {
		if got := httpsec.StatusFor(tc.err); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.want)
		}
	}
	if err := (auth.Decision{Allowed: true}).Err(); err != nil {
		t.Errorf("allowed decision: %v", err)
	}
}

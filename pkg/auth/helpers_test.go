package auth_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
)

// clock is a settable clock shared by an authenticator and its sessions.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// auditLog captures a JSON audit logger's records.
type auditLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.Write(p)
}

func (a *auditLog) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.String()
}

func (a *auditLog) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(a, nil)) }

// records returns every record, decoded.
func (a *auditLog) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(a.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// last returns the last record.
func (a *auditLog) last(t *testing.T) map[string]any {
	t.Helper()
	rs := a.records(t)
	if len(rs) == 0 {
		t.Fatal("no audit record")
	}
	return rs[len(rs)-1]
}

// fixture is a guard over static tokens with a fake clock, serving:
//
//	GET  /read              Require(read, Global)
//	POST /publish/{repo...} Require(publish, the repository in the path)
//	GET  /loaded/{repo...}  CheckContext(read-promotion, the repository in the path)
//	GET  /forgotten         no Require: answers "secret"
//	GET  /silent            no Require, writes nothing
type fixture struct {
	clk     *clock
	tok     map[string]string
	audit   *auditLog
	authn   *auth.Authenticator
	guard   *auth.Guard
	handler http.Handler
}

func newFixture(t *testing.T, gopts []auth.GuardOption, aopts ...auth.AuthOption) *fixture {
	t.Helper()
	return newFixtureAt(t, newClock(), gopts, aopts...)
}

// newFixtureAt is newFixture on the clock clk.
func newFixtureAt(t *testing.T, clk *clock, gopts []auth.GuardOption, aopts ...auth.AuthOption) *fixture {
	t.Helper()
	f := &fixture{clk: clk, tok: map[string]string{}, audit: &auditLog{}}
	grants := []struct {
		name   string
		roles  []auth.Role
		scopes []string
		exp    time.Duration
	}{
		{"auditor", []auth.Role{auth.RoleAuditor}, nil, 0},
		{"ci", []auth.Role{auth.RolePipeline}, []string{"reg.example/team-a"}, 0},
		{"admin", []auth.Role{auth.RoleAdmin}, nil, 0},
		{"expired", []auth.Role{auth.RoleAdmin}, nil, -time.Hour},
		{"short", []auth.Role{auth.RoleAuditor}, nil, 30 * time.Minute},
	}
	var entries []auth.TokenEntry
	for _, g := range grants {
		tok := auth.GenerateToken()
		f.tok[g.name] = tok
		e := auth.TokenEntry{Name: g.name, SHA256: auth.HashToken(tok), Roles: g.roles, Scopes: g.scopes}
		if g.exp != 0 {
			na := f.clk.now().Add(g.exp)
			e.NotAfter = &na
		}
		entries = append(entries, e)
	}
	store, err := auth.NewTokenStore(entries...)
	if err != nil {
		t.Fatal(err)
	}
	f.authn, err = auth.NewAuthenticator(append([]auth.AuthOption{auth.WithTokens(store), auth.WithClock(f.clk.now)}, aopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.guard, err = auth.NewGuard(f.authn, f.audit.logger(), gopts...)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.PrincipalFrom(r.Context())
		_, _ = io.WriteString(w, "hello "+p.ID)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /read", f.guard.Require(auth.ActionRead, auth.Global, ok))
	mux.Handle("POST /publish/{repo...}", f.guard.Require(auth.ActionPublish, func(r *http.Request) (auth.Resource, error) {
		return auth.Resource{Name: "build", Repositories: []string{r.PathValue("repo")}}, nil
	}, ok))
	mux.HandleFunc("GET /loaded/{repo...}", func(w http.ResponseWriter, r *http.Request) {
		// A handler that learns its resource after loading it.
		if err := f.guard.CheckContext(r.Context(), auth.ActionReadPromotion, auth.Resource{Name: "promotion-1",
			Repositories: []string{r.PathValue("repo")}}); err != nil {
			httpsec.WriteError(w, r, err)
			return
		}
		_, _ = io.WriteString(w, "status")
	})
	mux.HandleFunc("GET /forgotten", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "secret")
	})
	mux.HandleFunc("GET /silent", func(http.ResponseWriter, *http.Request) {})
	f.handler, err = httpsec.Harden(slog.New(slog.DiscardHandler), f.guard.Middleware(mux))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// do serves one request from addr with the given Authorization header ("" for none).
func (f *fixture) do(method, path, authz, addr string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	if addr != "" {
		r.RemoteAddr = addr
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func bearer(tok string) string { return "Bearer " + tok }

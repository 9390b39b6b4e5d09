package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/custody-dev/custody/pkg/httpsec"
)

// Guard defaults.
const (
	DefaultRate         = rate.Limit(10) // requests per second per principal
	DefaultBurst        = 50
	DefaultFailureRate  = rate.Limit(1.0 / 6) // failed authentications per second per address
	DefaultFailureBurst = 10
	DefaultMaxLimiters  = 10000
)

// GuardOption configures NewGuard.
type GuardOption func(*guardOptions) error

type guardOptions struct {
	rate, failRate   rate.Limit
	burst, failBurst int
	maxLimiters      int
	sessionAuth      bool
	loginPath        string
	clientIP         func(*http.Request) string
}

// WithRateLimit sets each principal's request rate and burst (default DefaultRate,
// DefaultBurst). rate.Inf turns the limit off.
func WithRateLimit(r rate.Limit, burst int) GuardOption {
	return func(o *guardOptions) error {
		if r <= 0 || burst < 1 {
			return fmt.Errorf("rate limit %v burst %d: both must be positive", r, burst)
		}
		o.rate, o.burst = r, burst
		return nil
	}
}

// WithFailureLimit sets how many failed authentications a client address may make
// (rate and burst; default DefaultFailureRate, DefaultFailureBurst). Once its bucket is
// empty, its requests are refused with 429 before any credential is checked, so
// guessing tokens is slow.
func WithFailureLimit(r rate.Limit, burst int) GuardOption {
	return func(o *guardOptions) error {
		if r <= 0 || r == rate.Inf || burst < 1 {
			return fmt.Errorf("failure limit %v burst %d: both must be positive and finite", r, burst)
		}
		o.failRate, o.failBurst = r, burst
		return nil
	}
}

// WithMaxLimiters bounds how many per-principal and per-address buckets are kept
// (default DefaultMaxLimiters each).
func WithMaxLimiters(n int) GuardOption {
	return func(o *guardOptions) error {
		if n < 1 || n > 10_000_000 {
			return fmt.Errorf("max limiters %d: must be 1 to 10000000", n)
		}
		o.maxLimiters = n
		return nil
	}
}

// WithSessionAuth makes the middleware accept the session cookie (for pages). The
// Authenticator must have WithSessions. Without it, a cookie is ignored.
func WithSessionAuth() GuardOption {
	return func(o *guardOptions) error {
		o.sessionAuth = true
		return nil
	}
}

// WithLoginRedirect makes a page guard (WithSessionAuth) answer a GET or HEAD without a
// credential, or with a session that has ended, with a 303 redirect to path (a local
// path such as /login) instead of a 401. Other requests still get the 401.
func WithLoginRedirect(path string) GuardOption {
	return func(o *guardOptions) error {
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\\r\n") {
			return fmt.Errorf("login path %q: must be a local path starting with a single /", bounded(path))
		}
		o.loginPath = path
		return nil
	}
}

// WithClientIP sets how the client's address is found (default: r.RemoteAddr, IPv6 by
// /64). Behind a reverse proxy, read the address the proxy reports, and only from a
// proxy you trust.
func WithClientIP(f func(*http.Request) string) GuardOption {
	return func(o *guardOptions) error {
		if f == nil {
			return errors.New("client address function is nil")
		}
		o.clientIP = f
		return nil
	}
}

// Guard authenticates requests, authorises them route by route, limits their rate and
// writes every decision to the audit log.
type Guard struct {
	authn    *Authenticator
	audit    *slog.Logger
	o        guardOptions
	perUser  *limiters
	failures *limiters
}

// NewGuard returns a guard that authenticates with authn and writes its audit records
// to audit.
func NewGuard(authn *Authenticator, audit *slog.Logger, opts ...GuardOption) (*Guard, error) {
	if authn == nil || audit == nil {
		return nil, errors.New("guard: the authenticator and the audit logger are required")
	}
	o := guardOptions{rate: DefaultRate, burst: DefaultBurst, failRate: DefaultFailureRate, failBurst: DefaultFailureBurst,
		maxLimiters: DefaultMaxLimiters, clientIP: remoteIP}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("guard: %w", err)
		}
	}
	if o.loginPath != "" && !o.sessionAuth {
		return nil, errors.New("guard: a login redirect is for pages: add WithSessionAuth")
	}
	if o.sessionAuth && authn.sessions == nil {
		return nil, errors.New("guard: session authentication needs an authenticator WithSessions")
	}
	per, err := newLimiters(o.rate, o.burst, o.maxLimiters)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	fail, err := newLimiters(o.failRate, o.failBurst, o.maxLimiters)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	return &Guard{authn: authn, audit: audit, o: o, perUser: per, failures: fail}, nil
}

// requestState is what Middleware keeps on a request's context: whether Require or
// Check decided, the request's description for audit records made from a context
// (CheckContext), and the session, when the request came with one.
type requestState struct {
	decided atomic.Bool
	info    reqInfo
	session *Session
}

// reqInfo describes a request in audit records.
type reqInfo struct{ method, path, remote string }

func infoOf(r *http.Request) reqInfo {
	return reqInfo{method: r.Method, path: r.URL.Path, remote: r.RemoteAddr}
}

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// Decided reports whether the request whose context ctx is (behind Middleware) has had
// its authorization decided by Require, Check or CheckContext; false outside Middleware.
// A handler that may answer early (an unreadable body) asks it, and decides first.
func Decided(ctx context.Context) bool {
	st := stateFrom(ctx)
	return st != nil && st.decided.Load()
}

// markDecided notes that the request's authorization was decided.
func markDecided(ctx context.Context) {
	if st := stateFrom(ctx); st != nil {
		st.decided.Store(true)
	}
}

// SessionFrom returns the session a request behind Middleware came with (pages put its
// CSRFToken into their forms); false for any other credential.
func SessionFrom(ctx context.Context) (Session, bool) {
	if st := stateFrom(ctx); st != nil && st.session != nil {
		return *st.session, true
	}
	return Session{}, false
}

// Middleware authenticates every request (deny by default: no credential is a 401 with
// WWW-Authenticate: Bearer), checks the CSRF token of a state-changing session request
// (403), applies the per-address failure limit and the per-principal rate limit (429
// with Retry-After), and puts the Principal on the request's context. Routes then
// authorise with Require or Check; a handler that starts its answer without either
// having decided gets a 403 instead (its answer is discarded and the audit log says
// so), so a route nobody wrapped in Require leaks nothing. Mount routes that need no
// authentication (a health check) outside it.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := g.authn.now()
		ip := g.o.clientIP(r)
		if blocked, wait := g.failures.blocked(ip, now); blocked {
			g.record(r, "authenticate", Principal{}, "", nil, Decision{Code: ReasonRateLimited,
				Reason: "too many failed authentications from this address"})
			g.refuse(w, r, wait, fmt.Errorf("%w: too many failed authentications; retry later", ErrRateLimited))
			return
		}
		p, kind, sess, err := g.authn.authenticate(r, g.o.sessionAuth)
		if err != nil {
			if !errors.Is(err, ErrNoCredentials) {
				g.failures.take(ip, now)
			}
			if kind == credSession {
				g.authn.sessions.destroy(w, r)
			}
			g.recordCause(r, "authenticate", kind, err)
			if g.o.loginPath != "" && (kind == credNone || kind == credSession) &&
				(r.Method == http.MethodGet || r.Method == http.MethodHead) {
				http.Redirect(w, r, g.o.loginPath, http.StatusSeeOther)
				return
			}
			g.unauthenticated(w, r, kind != credNone, err)
			return
		}
		if sess != nil {
			if err := checkCSRF(r, *sess); err != nil {
				g.record(r, "authenticate", p, kind, nil, Decision{Principal: p.ID, Code: ReasonCSRF, Reason: err.Error()})
				httpsec.WriteError(w, r, err)
				return
			}
		}
		if ok, wait := g.perUser.allow(p.ID, now); !ok {
			g.record(r, "authenticate", p, kind, nil, Decision{Principal: p.ID, Code: ReasonRateLimited,
				Reason: "request rate exceeded"})
			g.refuse(w, r, wait, fmt.Errorf("%w: request rate exceeded for %s; retry later", ErrRateLimited, p.ID))
			return
		}
		st := &requestState{info: infoOf(r), session: sess}
		ctx := ContextWithPrincipal(r.Context(), p)
		ctx = context.WithValue(ctx, stateKey{}, st)
		gw := &guardedWriter{ResponseWriter: w, r: r.WithContext(ctx), g: g, st: st, p: p}
		next.ServeHTTP(gw, gw.r)
		gw.check() // a handler that wrote nothing must not leave an empty 200
	})
}

// ResourceFunc names the resource a request acts on. A function that reads the body
// must put it back (r.Body = io.NopCloser(bytes.NewReader(b))) for the handler. Its
// errors are answered through httpsec.StatusFor: wrap httpsec.ErrBadRequest for a
// request that cannot name its resource.
type ResourceFunc func(*http.Request) (Resource, error)

// Global is the ResourceFunc of routes that act on no particular repository (the log,
// the vulnerability database, administration). Scoped principals are denied them.
func Global(*http.Request) (Resource, error) { return Resource{}, nil }

// Require returns a handler that authorises action on the resource res names for the
// request's principal (Authorize), writes the decision to the audit log, and calls next
// only when it is allowed; otherwise it answers 403 (401 without a principal, that is
// without Middleware in front). A nil res is Global.
func (g *Guard) Require(action Action, res ResourceFunc, next http.Handler) http.Handler {
	if res == nil {
		res = Global
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			markDecided(r.Context())
			g.record(r, "authorize", Principal{}, "", &Resource{}, Decision{Action: action, Code: ReasonUnauthenticated,
				Reason: "no authenticated principal (is the route behind Guard.Middleware?)"})
			g.unauthenticated(w, r, false, ErrNoCredentials)
			return
		}
		resource, err := res(r)
		if err != nil {
			markDecided(r.Context())
			g.record(r, "authorize", p, "", &Resource{}, Decision{Principal: p.ID, Action: action,
				Code: ReasonResourceUnknown, Reason: err.Error()})
			httpsec.WriteError(w, r, err)
			return
		}
		if err := g.Check(r, action, resource); err != nil {
			httpsec.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check authorises action on res for the request's principal and writes the decision
// to the audit log, for handlers that know the resource only after loading it (a
// promotion's repositories). It returns nil when allowed, an error wrapping
// ErrForbidden (or ErrUnauthenticated without a principal) otherwise.
func (g *Guard) Check(r *http.Request, action Action, res Resource) error {
	return g.check(r.Context(), infoOf(r), action, res)
}

// CheckContext is Check for code that holds the request's context but not the request
// (a Connect handler behind Middleware); the audit record describes the request
// Middleware saw.
func (g *Guard) CheckContext(ctx context.Context, action Action, res Resource) error {
	var info reqInfo
	if st := stateFrom(ctx); st != nil {
		info = st.info
	}
	return g.check(ctx, info, action, res)
}

func (g *Guard) check(ctx context.Context, info reqInfo, action Action, res Resource) error {
	markDecided(ctx)
	p, ok := PrincipalFrom(ctx)
	if !ok {
		g.recordInfo(ctx, info, "authorize", Principal{}, "", &res, Decision{Action: action, Resource: res,
			Code: ReasonUnauthenticated, Reason: "no authenticated principal"})
		return ErrNoCredentials
	}
	d := Authorize(p, action, res)
	g.recordInfo(ctx, info, "authorize", p, "", &res, d)
	return d.Err()
}

// unauthenticated answers 401 with WWW-Authenticate (RFC 6750), error="invalid_token"
// when a credential was presented.
func (g *Guard) unauthenticated(w http.ResponseWriter, r *http.Request, presented bool, err error) {
	v := `Bearer realm="custody"`
	if presented {
		v += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", v)
	httpsec.WriteError(w, r, err)
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, wait time.Duration, err error) {
	w.Header().Set("Retry-After", retryAfter(wait))
	httpsec.WriteError(w, r, err)
}

// record writes one audit record. It never receives a credential: only the principal,
// the decision and the request's method, path, id and address.
// recordCause records a failed authentication with the operator-only cause, if any.
func (g *Guard) recordCause(r *http.Request, event string, kind credentialKind, err error) {
	d := Decision{Code: ReasonUnauthenticated, Reason: err.Error()}
	g.recordInfo(r.Context(), infoOf(r), event, Principal{}, kind, nil, d, slog.String("cause", causeOf(err)))
}

func (g *Guard) record(r *http.Request, event string, p Principal, kind credentialKind, res *Resource, d Decision) {
	g.recordInfo(r.Context(), infoOf(r), event, p, kind, res, d)
}

func (g *Guard) recordInfo(ctx context.Context, info reqInfo, event string, p Principal, kind credentialKind, res *Resource, d Decision, extra ...slog.Attr) {
	verdict := "deny"
	if d.Allowed {
		verdict = "allow"
	}
	attrs := []slog.Attr{
		slog.String("event", event),
		slog.String("decision", verdict),
		slog.String("reason", string(d.Code)),
		slog.String("detail", d.Reason),
		slog.String("principal", p.ID),
		slog.String("auth_method", string(p.Method)),
		slog.String("method", info.method),
		slog.String("path", info.path),
		slog.String("request_id", httpsec.RequestIDFrom(ctx)),
		slog.String("remote_addr", info.remote),
	}
	if kind != "" {
		attrs = append(attrs, slog.String("credential", string(kind)))
	}
	if d.Action != "" {
		attrs = append(attrs, slog.String("action", string(d.Action)))
	}
	if res != nil {
		attrs = append(attrs, slog.Group("resource", slog.String("name", res.Name), slog.Any("repositories", res.Repositories)))
	}
	for _, a := range extra {
		if a.Value.String() != "" {
			attrs = append(attrs, a)
		}
	}
	level := slog.LevelInfo
	if !d.Allowed {
		level = slog.LevelWarn
	}
	g.audit.LogAttrs(ctx, level, "audit", attrs...)
}

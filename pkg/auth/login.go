package auth

import (
	"errors"
	"fmt"
	"net/http"
)

// errNoSessions is Login's error when the authenticator has no session store.
var errNoSessions = errors.New("sessions are not enabled: give the authenticator WithSessions")

// Login authenticates token (a static API token or an OIDC JWT, as a login form
// presents it) and, when valid, creates a session and sets its cookie
// (SessionCookie: Secure, HttpOnly, SameSite=Strict, Path=/, no Domain). The returned
// Session's CSRFToken goes into the pages' forms. A request that a browser marks as
// cross-site (Sec-Fetch-Site) is refused, so another site cannot log a visitor in. A
// failed login counts against the address's failure limit and is audited, like every
// login; the token never appears in the audit log or the error. The caller answers an
// error with httpsec.WriteError (Retry-After is already set for ErrRateLimited).
func (g *Guard) Login(w http.ResponseWriter, r *http.Request, token string) (Session, error) {
	if g.authn.sessions == nil {
		return Session{}, errNoSessions
	}
	now := g.authn.now()
	ip := g.o.clientIP(r)
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		err := fmt.Errorf("%w: login from a %s context", ErrCSRF, bounded(site))
		g.record(r, "login", Principal{}, credBearer, nil, Decision{Code: ReasonCSRF, Reason: err.Error()})
		return Session{}, err
	}
	if blocked, wait := g.failures.blocked(ip, now); blocked {
		g.record(r, "login", Principal{}, credBearer, nil, Decision{Code: ReasonRateLimited,
			Reason: "too many failed authentications from this address"})
		w.Header().Set("Retry-After", retryAfter(wait))
		return Session{}, fmt.Errorf("%w: too many failed logins; retry later", ErrRateLimited)
	}
	p, err := g.authn.AuthenticateToken(r.Context(), token)
	if err != nil {
		g.failures.take(ip, now)
		g.recordCause(r, "login", credBearer, err)
		return Session{}, err
	}
	s := g.authn.sessions.create(w, p)
	g.record(r, "login", s.Principal, credBearer, nil, Decision{Allowed: true, Principal: p.ID, Code: ReasonGranted,
		Reason: "session created"})
	return s, nil
}

// Logout ends the request's session, if any, tells the browser to delete the cookie and
// writes an audit record. Ending one's own session needs no permission beyond the
// session itself (and, behind Middleware, its CSRF token), so Logout counts as the
// request's authorization decision: a logout route behind Middleware needs no Require,
// and any principal, whatever its roles and scopes, can log out.
func (g *Guard) Logout(w http.ResponseWriter, r *http.Request) {
	markDecided(r.Context())
	if g.authn.sessions == nil {
		return
	}
	var p Principal
	if s, err := g.authn.sessions.Lookup(r); err == nil {
		p = s.Principal
	}
	g.authn.sessions.destroy(w, r)
	g.record(r, "logout", p, credSession, nil, Decision{Allowed: true, Principal: p.ID, Code: ReasonGranted,
		Reason: "session ended"})
}

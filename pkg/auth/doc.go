// Package auth authenticates the callers of Custody's HTTP API and pages, decides what
// each may do, limits their rate and writes every decision to an audit log.
//
// # Wiring a server
//
//	tokens, _ := auth.LoadTokenFile("tokens.yaml")
//	authn, _ := auth.NewAuthenticator(auth.WithTokens(tokens), auth.WithOIDC(verifier))
//	guard, _ := auth.NewGuard(authn, auditLog)
//	mux.Handle("GET /v1/artifacts/{digest}/provenance", guard.Require(auth.ActionRead, byDigest, provenance))
//	mux.Handle("POST /v1/promotions", guard.Require(auth.ActionPromote, promotionRepos, promote))
//	h, _ := httpsec.Harden(log, guard.Middleware(mux))
//
// Middleware authenticates every request (a request without a credential is a 401:
// deny by default), limits the rate, and puts the Principal on the context; Require
// authorises one route (403), and Check (or CheckContext, for a Connect handler that
// holds only the context) does the same inside a handler that learns its resource only
// after loading it. A handler that answers without either having decided
// gets a 403 in place of its answer, so a forgotten Require leaks nothing (but it still
// ran: put Require on every route). Routes that need no credential (a health check,
// the login form) are mounted outside Middleware.
//
// # Credentials
//
// The first credential a request presents decides; an invalid one is refused (401 with
// WWW-Authenticate: Bearer), never retried with a weaker method:
//
//  1. Authorization: Bearer custody_... is a static API token: 32 random bytes
//     (GenerateToken), kept only as its sha256 in a token file (ParseTokens,
//     LoadTokenFile), with a name, roles, optional scopes and an optional expiry. For
//     development and CI.
//  2. Any other bearer token is an OIDC JWT (NewOIDCVerifier, on
//     github.com/coreos/go-oidc/v3 and go-jose): the issuer's keys from its JWKS
//     (discovered or configured, cached, fetched again on an unknown key id, at most so
//     often), an allow-list of public-key algorithms (never none, never HMAC), iss, aud,
//     exp and nbf checked with a small leeway. Roles and scopes come from claims.
//  3. A client certificate, verified by the TLS handshake against a configured CA
//     (ServerTLSConfig), mapped by URI SAN, DNS SAN or CN to roles and scopes
//     (NewCertMapper).
//  4. Only on a Guard WithSessionAuth (pages): the session cookie
//     __Host-custody_session, created by Guard.Login from a valid token.
//
// # Authorization
//
// Three roles and five actions, in a fixed table (RoleActions); everything else is
// denied. auditor: read, read-promotion. pipeline: publish, promote, read-promotion.
// admin: admin, read, read-promotion (an admin does not publish or promote: what enters
// production comes from pipelines; a development token may hold all three roles).
// A principal may be scoped to repository prefixes, matched by whole path segment
// (reg/team-a covers reg/team-a/app, never reg/team-ab); a scoped principal is denied
// any resource that names no repository, whatever the action, because a resource known
// only by digest might belong to another team. Authorize is a pure function; its
// Decision serialises to JSON.
//
// # Sessions
//
// Sessions are kept on the server, in memory: the cookie holds only a 256-bit random
// id, and the store keys sessions by its sha256. Chosen over an encrypted or signed
// cookie because logout and expiry then really end a session (a stolen sealed cookie
// stays valid until it expires, whatever the user did), there is no cookie key to
// generate, rotate and share, and the cookie reveals nothing. The cost: sessions are
// lost on restart and are not shared between replicas, so pages need one process or
// sticky routing. The store is bounded (WithMaxSessions; 16 per principal), sessions
// end after a lifetime, an idle time or the login credential's own expiry. The cookie
// is Secure, HttpOnly, SameSite=Strict, Path=/ and has no Domain. State-changing
// requests on a session (anything but GET, HEAD, OPTIONS, TRACE) must carry the
// session's CSRF token (form field csrf_token or header X-CSRF-Token) and must not be
// marked cross-site by Sec-Fetch-Site.
//
// # Audit and limits
//
// Every authentication failure, every authorization decision (allowed and denied),
// every refusal for rate, every login and logout is one record on the audit logger:
// event, decision, reason code and text, principal, action, resource, HTTP method, path,
// request id and remote address, never a credential or its hash. Each principal has a
// token bucket (golang.org/x/time/rate; WithRateLimit), and each client address one for
// failed authentications (WithFailureLimit), checked before any credential, so that
// guessing tokens is slow; both live in bounded LRU maps that drop idle buckets.
//
// It is not for: transport hardening, request ids and error bodies (package httpsec,
// whose sentinel errors this package re-exports), issuing OIDC tokens or running an
// identity provider, or authenticating NATS clients (their credentials are NATS's own).
package auth

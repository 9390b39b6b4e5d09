package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// AuthOption configures NewAuthenticator.
type AuthOption func(*Authenticator) error

// WithTokens accepts static API tokens (Authorization: Bearer custody_...).
func WithTokens(s *TokenStore) AuthOption {
	return func(a *Authenticator) error {
		if s == nil {
			return errors.New("token store is nil")
		}
		a.tokens = s
		return nil
	}
}

// WithOIDC accepts OIDC bearer JWTs verified by v.
func WithOIDC(v *OIDCVerifier) AuthOption {
	return func(a *Authenticator) error {
		if v == nil {
			return errors.New("oidc verifier is nil")
		}
		a.oidc = v
		return nil
	}
}

// WithClientCerts accepts verified client certificates mapped by m. The server's TLS
// configuration must verify them (ServerTLSConfig).
func WithClientCerts(m *CertMapper) AuthOption {
	return func(a *Authenticator) error {
		if m == nil {
			return errors.New("certificate mapper is nil")
		}
		a.certs = m
		return nil
	}
}

// WithSessions enables page sessions: Guard.Login creates them and a Guard made
// WithSessionAuth accepts their cookie.
func WithSessions(s *Sessions) AuthOption {
	return func(a *Authenticator) error {
		if s == nil {
			return errors.New("sessions are nil")
		}
		a.sessions = s
		return nil
	}
}

// WithClock sets the clock that decides expiry (for tests).
func WithClock(now func() time.Time) AuthOption {
	return func(a *Authenticator) error {
		if now == nil {
			return errors.New("clock is nil")
		}
		a.now = now
		return nil
	}
}

// Authenticator turns a request's credential into a Principal.
type Authenticator struct {
	tokens   *TokenStore
	oidc     *OIDCVerifier
	certs    *CertMapper
	sessions *Sessions
	now      func() time.Time
}

// NewAuthenticator returns an authenticator for the methods the options enable; at
// least one of tokens, OIDC and client certificates is required.
func NewAuthenticator(opts ...AuthOption) (*Authenticator, error) {
	a := &Authenticator{now: time.Now}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, fmt.Errorf("authenticator: %w", err)
		}
	}
	if a.tokens == nil && a.oidc == nil && a.certs == nil {
		return nil, errors.New("authenticator: no authentication method: give WithTokens, WithOIDC or WithClientCerts")
	}
	return a, nil
}

// maxBearer bounds the Authorization header's credential.
const maxBearer = maxJWT

// ParseBearer returns the credential of an Authorization header value "Bearer <token>"
// (the scheme in any case, one space, an RFC 6750 b64token of at most 16 KiB). Anything
// else is an error wrapping ErrUnauthenticated that never contains the value.
func ParseBearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", ErrUnauthenticated)
	}
	if token == "" || len(token) > maxBearer {
		return "", fmt.Errorf("%w: bearer token must be 1 to %d characters", ErrUnauthenticated, maxBearer)
	}
	// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	body := strings.TrimRight(token, "=")
	if body == "" {
		return "", fmt.Errorf("%w: bearer token is malformed", ErrUnauthenticated)
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return "", fmt.Errorf("%w: bearer token is malformed", ErrUnauthenticated)
		}
	}
	return token, nil
}

// credentialKind says which credential a request presented, for the audit log.
type credentialKind string

const (
	credNone    credentialKind = "none"
	credBearer  credentialKind = "bearer"
	credCert    credentialKind = "client-certificate"
	credSession credentialKind = "session"
)

// Authenticate returns the request's principal from, in this order: an Authorization
// header (a static token if it starts with custody_, else an OIDC JWT), a verified
// client certificate, and (only when withSession is true and sessions are enabled) the
// session cookie. The first credential present decides: when it is invalid the request
// is refused, never retried with a weaker one. No credential at all is
// ErrNoCredentials. Errors wrap ErrUnauthenticated and never contain a credential.
func (a *Authenticator) Authenticate(r *http.Request, withSession bool) (Principal, error) {
	p, _, _, err := a.authenticate(r, withSession)
	return p, err
}

func (a *Authenticator) authenticate(r *http.Request, withSession bool) (Principal, credentialKind, *Session, error) {
	if hs, present := r.Header["Authorization"]; present {
		if len(hs) != 1 {
			return Principal{}, credBearer, nil, fmt.Errorf("%w: more than one Authorization header", ErrUnauthenticated)
		}
		p, err := a.bearer(r.Context(), hs[0])
		return p, credBearer, nil, err
	}
	if a.certs != nil && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		p, err := a.certs.Authenticate(r.TLS)
		if err == nil && !p.Expires.IsZero() && !a.now().Before(p.Expires) {
			err = fmt.Errorf("%w: client certificate expired", ErrUnauthenticated)
		}
		return p, credCert, nil, err
	}
	if withSession && a.sessions != nil {
		if _, err := r.Cookie(SessionCookie); err == nil {
			s, err := a.sessions.Lookup(r)
			if err != nil {
				return Principal{}, credSession, nil, err
			}
			return s.Principal, credSession, &s, nil
		}
	}
	return Principal{}, credNone, nil, ErrNoCredentials
}

// AuthenticateToken authenticates a bearer credential on its own (a static token or an
// OIDC JWT), as a login form presents it.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > maxBearer {
		return Principal{}, fmt.Errorf("%w: token must be 1 to %d characters", ErrUnauthenticated, maxBearer)
	}
	return a.bearer(ctx, "Bearer "+token)
}

func (a *Authenticator) bearer(ctx context.Context, header string) (Principal, error) {
	token, err := ParseBearer(header)
	if err != nil {
		return Principal{}, err
	}
	now := a.now()
	if strings.HasPrefix(token, TokenPrefix) {
		if a.tokens == nil {
			return Principal{}, fmt.Errorf("%w: static API tokens are not accepted by this server", ErrUnauthenticated)
		}
		return a.tokens.Authenticate(token, now)
	}
	if a.oidc == nil {
		return Principal{}, fmt.Errorf("%w: bearer token is not a Custody API token and OIDC is not configured", ErrUnauthenticated)
	}
	return a.oidc.Authenticate(ctx, token, now)
}

package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/time/rate"
)

// OIDC defaults.
const (
	DefaultRolesClaim  = "custody_roles"
	DefaultScopesClaim = "custody_scopes"
	DefaultLeeway      = time.Minute
	// MaxLeeway bounds WithLeeway: clocks more than this apart need fixing, not leeway.
	MaxLeeway = 5 * time.Minute
	// maxJWT bounds a bearer JWT.
	maxJWT = 16 << 10
	// maxClaimValues bounds a roles, groups or scopes claim.
	maxClaimValues = 100
	// maxJWKSBody bounds a discovery document or key set.
	maxJWKSBody = 1 << 20
)

// DefaultAlgorithms are the JWS algorithms accepted unless WithAlgorithms says otherwise.
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA", "PS256"}

// asymmetric are the algorithms WithAlgorithms may name: signatures with public keys.
// "none" and the HMAC algorithms (HS256...) are never accepted: with HMAC, a verifier
// that holds the issuer's public key could be fooled into using it as a shared secret.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// OIDCOption configures NewOIDCVerifier.
type OIDCOption func(*oidcOptions) error

type oidcOptions struct {
	jwksURL     string
	algs        []string
	leeway      time.Duration
	rolesClaim  string
	groupsClaim string
	groupRoles  map[string][]Role
	scopesClaim string
	client      *http.Client
	fetchEvery  time.Duration
}

// WithJWKSURL skips discovery and reads the issuer's keys from u (https).
func WithJWKSURL(u string) OIDCOption {
	return func(o *oidcOptions) error {
		if err := checkHTTPS("JWKS URL", u); err != nil {
			return err
		}
		o.jwksURL = u
		return nil
	}
}

// WithAlgorithms sets the accepted JWS algorithms (default DefaultAlgorithms). "none"
// and HMAC algorithms are refused with an error, as is any unknown name.
func WithAlgorithms(algs ...string) OIDCOption {
	return func(o *oidcOptions) error {
		if len(algs) == 0 {
			return errors.New("no algorithms: accept at least one of " + fmt.Sprint(asymmetric))
		}
		for _, a := range algs {
			if !slices.Contains(asymmetric, a) {
				return fmt.Errorf("algorithm %q is not accepted: only public-key signatures %v (never none or HMAC)", a, asymmetric)
			}
		}
		o.algs = slices.Clone(algs)
		return nil
	}
}

// WithLeeway sets the clock skew allowed on exp and nbf (default DefaultLeeway, at most
// MaxLeeway).
func WithLeeway(d time.Duration) OIDCOption {
	return func(o *oidcOptions) error {
		if d < 0 || d > MaxLeeway {
			return fmt.Errorf("leeway %v: must be between 0 and %v", d, MaxLeeway)
		}
		o.leeway = d
		return nil
	}
}

// WithRolesClaim names the claim that lists Custody roles (default custody_roles; a
// string or a list of strings). Values that are not roles are ignored.
func WithRolesClaim(name string) OIDCOption {
	return func(o *oidcOptions) error {
		if name == "" {
			return errors.New("roles claim name is empty")
		}
		o.rolesClaim = name
		return nil
	}
}

// WithGroupRoles grants roles by group: a token whose claim (for example "groups")
// holds a key of mapping gets that key's roles, in addition to the roles claim.
func WithGroupRoles(claim string, mapping map[string][]Role) OIDCOption {
	return func(o *oidcOptions) error {
		if claim == "" || len(mapping) == 0 {
			return errors.New("group roles: name the claim and map at least one group")
		}
		m := make(map[string][]Role, len(mapping))
		for g, roles := range mapping {
			for _, r := range roles {
				if _, err := ParseRole(string(r)); err != nil {
					return fmt.Errorf("group %q: %w", g, err)
				}
			}
			m[g] = slices.Clone(roles)
		}
		o.groupsClaim, o.groupRoles = claim, m
		return nil
	}
}

// WithScopesClaim names the claim that scopes a token to repository prefixes (default
// custody_scopes). Absent means every repository; present, it must be a non-empty list
// of valid scopes or the token is refused.
func WithScopesClaim(name string) OIDCOption {
	return func(o *oidcOptions) error {
		if name == "" {
			return errors.New("scopes claim name is empty")
		}
		o.scopesClaim = name
		return nil
	}
}

// WithHTTPClient sets the client for discovery and key fetches (default: 10 s timeout).
func WithHTTPClient(c *http.Client) OIDCOption {
	return func(o *oidcOptions) error {
		if c == nil {
			return errors.New("http client is nil")
		}
		o.client = c
		return nil
	}
}

// WithKeyFetchInterval bounds how often the key set may be fetched again (default 10 s,
// a burst of 3). go-oidc fetches the keys again whenever a signature does not verify
// with the cached ones (a rotated key, or a forged token); the bound stops forged tokens
// from turning the server into a load generator against the identity provider.
func WithKeyFetchInterval(d time.Duration) OIDCOption {
	return func(o *oidcOptions) error {
		if d <= 0 {
			return fmt.Errorf("key fetch interval %v: must be positive", d)
		}
		o.fetchEvery = d
		return nil
	}
}

// OIDCVerifier authenticates OIDC bearer JWTs from one issuer for one audience.
type OIDCVerifier struct {
	issuer   string
	audience string
	keys     oidc.KeySet
	o        oidcOptions
}

// NewOIDCVerifier returns a verifier for tokens from issuer (https) whose aud holds
// audience. Unless WithJWKSURL names the key set, it reads the issuer's discovery
// document now (/.well-known/openid-configuration, whose issuer must equal issuer) to
// find it. Keys are fetched on first use, cached, and fetched again (bounded by
// WithKeyFetchInterval) when a token's key is not among them.
func NewOIDCVerifier(ctx context.Context, issuer, audience string, opts ...OIDCOption) (*OIDCVerifier, error) {
	if err := checkHTTPS("issuer", issuer); err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	if audience == "" {
		return nil, errors.New("oidc: the audience is required: the client id or API identifier tokens are issued for")
	}
	o := oidcOptions{
		algs: DefaultAlgorithms, leeway: DefaultLeeway, rolesClaim: DefaultRolesClaim, scopesClaim: DefaultScopesClaim,
		client: &http.Client{Timeout: 10 * time.Second}, fetchEvery: 10 * time.Second,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("oidc: %w", err)
		}
	}
	base := o.client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	discovery := &http.Client{Timeout: o.client.Timeout, Transport: &boundedTransport{base: base}}
	if o.jwksURL == "" {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, discovery), issuer)
		if err != nil {
			return nil, fmt.Errorf("oidc: discovery at %s: %w", issuer, err)
		}
		var doc struct {
			JWKSURL string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err != nil {
			return nil, fmt.Errorf("oidc: discovery at %s: %w", issuer, err)
		}
		if err := checkHTTPS("jwks_uri", doc.JWKSURL); err != nil {
			return nil, fmt.Errorf("oidc: discovery at %s: %w", issuer, err)
		}
		o.jwksURL = doc.JWKSURL
	}
	fetch := &http.Client{Timeout: o.client.Timeout, Transport: &boundedTransport{
		base: base, limit: rate.NewLimiter(rate.Every(o.fetchEvery), 3),
	}}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.WithoutCancel(ctx), fetch), o.jwksURL)
	return &OIDCVerifier{issuer: issuer, audience: audience, keys: keys, o: o}, nil
}

// Authenticate verifies the JWT raw at now (signature with the issuer's keys, an
// accepted algorithm, iss, aud, exp and nbf with the leeway) and returns its principal:
// id "oidc:<iss>#<sub>", roles from the roles claim and the group mapping, scopes from
// the scopes claim. A token with no Custody role is authenticated and authorised for
// nothing. Errors wrap ErrUnauthenticated, say what failed, and never hold the token.
func (v *OIDCVerifier) Authenticate(ctx context.Context, raw string, now time.Time) (Principal, error) {
	fail := func(format string, args ...any) (Principal, error) {
		return Principal{}, fmt.Errorf("%w: bearer token "+format, append([]any{ErrUnauthenticated}, args...)...)
	}
	jwt, err := parseJWT(raw)
	if err != nil {
		return fail("%v", err)
	}
	if !slices.Contains(v.o.algs, jwt.Algorithm) {
		return fail("algorithm %q is not accepted (accepted: %v)", bounded(jwt.Algorithm), v.o.algs)
	}
	verifier := oidc.NewVerifier(v.issuer, v.keys, &oidc.Config{
		ClientID:             v.audience,
		SupportedSigningAlgs: v.o.algs,
		// go-oidc checks exp against Now without leeway; moving Now back gives it one.
		Now: func() time.Time { return now.Add(-v.o.leeway) },
	})
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		var p Principal
		var public error
		switch {
		case errors.As(err, &expired):
			p, public = fail("expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
		case jwt.Claims.Issuer != v.issuer:
			p, public = fail("was issued by another issuer, not %s", v.issuer)
		case !slices.Contains(jwt.Claims.Audience, v.audience):
			p, public = fail("is not for this audience (%s)", v.audience)
		default:
			p, public = fail("signature does not verify with the issuer's keys")
		}
		// go-oidc's own words (an unreachable key set, say) go to the audit log only.
		return p, &causedError{err: public, cause: err}
	}
	// go-oidc allows a fixed five minutes on nbf; apply ours.
	if jwt.Claims.NotBefore != nil && now.Add(v.o.leeway).Before(*jwt.Claims.NotBefore) {
		return fail("is not valid before %s", jwt.Claims.NotBefore.UTC().Format(time.RFC3339))
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return fail("claims: %v", err)
	}
	if tok.Subject == "" {
		return fail("has no sub claim")
	}
	p := Principal{
		ID:      "oidc:" + tok.Issuer + "#" + tok.Subject,
		Name:    displayName(claims, tok.Subject),
		Method:  MethodOIDC,
		Expires: tok.Expiry,
	}
	names, err := stringsClaim(claims, v.o.rolesClaim)
	if err != nil {
		return fail("%v", err)
	}
	for _, n := range names {
		if r, err := ParseRole(n); err == nil && !slices.Contains(p.Roles, r) {
			p.Roles = append(p.Roles, r)
		}
	}
	if v.o.groupsClaim != "" {
		groups, err := stringsClaim(claims, v.o.groupsClaim)
		if err != nil {
			return fail("%v", err)
		}
		for _, g := range groups {
			for _, r := range v.o.groupRoles[g] {
				if !slices.Contains(p.Roles, r) {
					p.Roles = append(p.Roles, r)
				}
			}
		}
	}
	if _, present := claims[v.o.scopesClaim]; present {
		scopes, err := stringsClaim(claims, v.o.scopesClaim)
		if err != nil {
			return fail("%v", err)
		}
		if len(scopes) == 0 {
			return fail("claim %s is empty: omit it for every repository", v.o.scopesClaim)
		}
		for _, s := range scopes {
			n, err := NormalizeScope(s)
			if err != nil {
				return fail("claim %s: %v", v.o.scopesClaim, err)
			}
			p.Scopes = append(p.Scopes, n)
		}
	}
	return p, nil
}

// stringsClaim reads a claim that is a string or a list of strings; absent is empty.
func stringsClaim(claims map[string]json.RawMessage, name string) ([]string, error) {
	raw, ok := claims[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("claim %s must be a string or a list of strings", name)
	}
	if len(many) > maxClaimValues {
		return nil, fmt.Errorf("claim %s has more than %d values", name, maxClaimValues)
	}
	return many, nil
}

// displayName picks a readable name for the audit log.
func displayName(claims map[string]json.RawMessage, sub string) string {
	for _, c := range []string{"preferred_username", "email", "name"} {
		var s string
		if raw, ok := claims[c]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
			return bounded(s)
		}
	}
	return bounded(sub)
}

func checkHTTPS(what, u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil || p.Fragment != "" {
		return fmt.Errorf("%s %q must be an https URL", what, bounded(u))
	}
	return nil
}

// boundedTransport bounds the answers of the identity provider and, when limit is set,
// how often it is asked.
type boundedTransport struct {
	base  http.RoundTripper
	limit *rate.Limiter
}

var errFetchLimited = errors.New("key set fetched too recently; try again shortly")

func (t *boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.limit != nil && !t.limit.Allow() {
		return nil, errFetchLimited
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxJWKSBody)
	return resp, nil
}

// causedError is an authentication error whose cause is for the operator (the audit
// log's "cause"), not for the caller: Error gives only the public text.
type causedError struct {
	err   error
	cause error
}

func (e *causedError) Error() string { return e.err.Error() }
func (e *causedError) Unwrap() error { return e.err }

// maxCause bounds a cause in the audit log (a key set's error page can be long).
const maxCause = 512

// causeOf returns the operator-only cause of err, bounded, or "".
func causeOf(err error) string {
	var ce *causedError
	if !errors.As(err, &ce) || ce.cause == nil {
		return ""
	}
	c := ce.cause.Error()
	if len(c) > maxCause {
		c = c[:maxCause] + "..."
	}
	return c
}

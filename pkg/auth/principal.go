package auth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/custody-dev/custody/pkg/httpsec"
)

// Errors of this package. ErrUnauthenticated, ErrForbidden and ErrRateLimited are
// httpsec's values, so httpsec.StatusFor maps them (401, 403, 429) and errors.Is works
// with either name.
var (
	// ErrUnauthenticated: no credential, or one that is not valid.
	ErrUnauthenticated = httpsec.ErrUnauthenticated
	// ErrNoCredentials: the request presented no credential at all (it wraps
	// ErrUnauthenticated). Only other authentication failures count against the
	// per-address failure limit.
	ErrNoCredentials = fmt.Errorf("%w: no credentials presented; send Authorization: Bearer <token>", ErrUnauthenticated)
	// ErrForbidden: authenticated, but the role table or the scopes deny the action.
	ErrForbidden = httpsec.ErrForbidden
	// ErrRateLimited: too many requests (or failed authentications); retry later.
	ErrRateLimited = httpsec.ErrRateLimited
	// ErrCSRF: a state-changing request on a session without the session's CSRF token
	// (it wraps ErrForbidden).
	ErrCSRF = fmt.Errorf("%w: missing or wrong CSRF token", ErrForbidden)
)

// Method is how a principal authenticated.
type Method string

// Authentication methods.
const (
	MethodToken   Method = "token"   // a static API token
	MethodOIDC    Method = "oidc"    // an OIDC bearer JWT
	MethodMTLS    Method = "mtls"    // a verified client certificate
	MethodSession Method = "session" // a page session cookie created by a login
)

// Role is a set of permitted actions (see Authorize for the table).
type Role string

// Roles.
const (
	RoleAuditor  Role = "auditor"  // reads evidence, provenance, decisions, bundles, the log
	RolePipeline Role = "pipeline" // publishes build events and attestations, requests promotions
	RoleAdmin    Role = "admin"    // imports vulnerability data, manages policies, keys and tokens
)

// Roles lists every role.
func Roles() []Role { return []Role{RoleAuditor, RolePipeline, RoleAdmin} }

// ParseRole returns the role named s, or an error for any other name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(Roles(), r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use auditor, pipeline or admin", s)
}

// Principal is who is calling.
type Principal struct {
	// ID is stable across requests: "token:<name>", "oidc:<iss>#<sub>",
	// "mtls:<kind>:<identity>". A session keeps the ID of the login's principal.
	ID string `json:"id"`
	// Name is for display (a token's name, a preferred_username, a certificate's CN).
	Name   string `json:"name"`
	Method Method `json:"method"`
	// Roles grant actions; unknown values grant nothing.
	Roles []Role `json:"roles"`
	// Scopes, when not empty, limit the principal to repositories under these
	// normalised prefixes (see NormalizeRepository); empty means every repository.
	Scopes []string `json:"scopes,omitempty"`
	// Expires is when the credential stops being valid; zero for none.
	Expires time.Time `json:"expires,omitzero"`
}

// HasRole reports whether p holds role r.
func (p Principal) HasRole(r Role) bool { return slices.Contains(p.Roles, r) }

type principalKey struct{}

// ContextWithPrincipal returns ctx carrying p.
func ContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal Guard.Middleware put on ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

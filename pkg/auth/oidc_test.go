package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/custody-dev/custody/pkg/auth"
)

const audience = "custody-api"

func claimsAt(is *issuer, now time.Time) map[string]any {
	return map[string]any{
		"iss": is.url(), "sub": "user-42", "aud": audience,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"preferred_username": "alice", "custody_roles": []string{"auditor"},
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func newVerifier(t *testing.T, is *issuer, opts ...auth.OIDCOption) *auth.OIDCVerifier {
	t.Helper()
	opts = append([]auth.OIDCOption{auth.WithHTTPClient(is.srv.Client())}, opts...)
	v, err := auth.NewOIDCVerifier(context.Background(), is.url(), audience, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestOIDC(t *testing.T) {
	is := newIssuer(t)
	keys := map[jose.SignatureAlgorithm]signingKey{}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256, jose.RS384} {
		keys[alg] = newKey(t, "k-"+string(alg), alg)
		is.publish(keys[alg])
	}
	rs := keys[jose.RS256]
	v := newVerifier(t, is)
	now := time.Now()
	base := claimsAt(is, now)

	// The classic confusion: HS256 keyed with the issuer's RSA public key as the secret.
	der, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: pubPEM, KeyID: rs.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(with(base, "custody_roles", []string{"admin"}))
	hsJWS, err := hs.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	hsToken, _ := hsJWS.CompactSerialize()

	valid := sign(t, rs, base)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + b64(with(base, "custody_roles", []string{"admin"})) + "." + parts[2]
	none := b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(base) + "."
	rogue := newKey(t, "rogue", jose.RS256)
	impostor := newKey(t, rs.kid, jose.RS256) // claims a published kid, signs with another key

	for _, tc := range []struct {
		name  string
		token string
		want  string // "" = accepted
	}{
		{"valid RS256", valid, ""},
		{"valid ES256", sign(t, keys[jose.ES256], base), ""},
		{"valid EdDSA", sign(t, keys[jose.EdDSA], base), ""},
		{"valid PS256", sign(t, keys[jose.PS256], base), ""},
		{"RS384 is not on the default allow-list", sign(t, keys[jose.RS384], base), "algorithm \"RS384\" is not accepted"},
		{"expired", sign(t, rs, with(base, "exp", now.Add(-2*time.Minute).Unix())), "expired"},
		{"expired within the leeway", sign(t, rs, with(base, "exp", now.Add(-30*time.Second).Unix())), ""},
		{"no exp", sign(t, rs, with(base, "exp", nil)), "expired"},
		{"not yet valid", sign(t, rs, with(base, "nbf", now.Add(2*time.Minute).Unix())), "not valid before"},
		{"nbf within the leeway", sign(t, rs, with(base, "nbf", now.Add(30*time.Second).Unix())), ""},
		{"wrong aud", sign(t, rs, with(base, "aud", "another-api")), "not for this audience"},
		{"aud list without ours", sign(t, rs, with(base, "aud", []string{"a", "b"})), "not for this audience"},
		{"aud list with ours", sign(t, rs, with(base, "aud", []string{"a", audience})), ""},
		{"no aud", sign(t, rs, with(base, "aud", nil)), "not for this audience"},
		{"wrong iss", sign(t, rs, with(base, "iss", "https://evil.example")), "another issuer"},
		{"alg none", none, "algorithm \"none\" is not accepted"},
		{"HS256 with the public key as secret", hsToken, "algorithm \"HS256\" is not accepted"},
		{"unknown kid", sign(t, rogue, base), "signature does not verify"},
		{"known kid, other key", sign(t, impostor, base), "signature does not verify"},
		{"tampered payload", tampered, "signature does not verify"},
		{"no sub", sign(t, rs, with(base, "sub", nil)), "no sub"},
		{"not a JWT", "abc.def", "not a well-formed JWT"},
		{"bad base64", "a*c.def.ghi", "not a well-formed JWT"},
		{"header not an object", b64([]string{"alg"}) + "." + b64(base) + ".c2ln", "header"},
		{"exp is a string", sign(t, rs, with(base, "exp", "tomorrow")), "registered types"},
		{"exp is negative", sign(t, rs, with(base, "exp", -5)), "NumericDate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Authenticate(context.Background(), tc.token, now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.ID != "oidc:"+is.url()+"#user-42" || p.Name != "alice" || p.Method != auth.MethodOIDC ||
					len(p.Roles) != 1 || p.Roles[0] != auth.RoleAuditor || len(p.Scopes) != 0 || p.Expires.IsZero() {
					t.Errorf("principal %+v", p)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrUnauthenticated with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Errorf("error holds the token")
			}
		})
	}
}

func TestOIDCClaims(t *testing.T) {
	is := newIssuer(t)
	k := newKey(t, "k1", jose.ES256)
	is.publish(k)
	v := newVerifier(t, is,
		auth.WithGroupRoles("groups", map[string][]auth.Role{"release-bots": {auth.RolePipeline}, "sec": {auth.RoleAuditor, auth.RoleAdmin}}))
	now := time.Now()
	base := with(claimsAt(is, now), "custody_roles", nil)
	for _, tc := range []struct {
		name   string
		claims map[string]any
		roles  []auth.Role
		scopes []string
		err    string
	}{
		{"no custody role: authenticated, nothing granted", base, nil, nil, ""},
		{"roles as a string", with(base, "custody_roles", "pipeline"), []auth.Role{auth.RolePipeline}, nil, ""},
		{"unknown roles ignored", with(base, "custody_roles", []string{"root", "auditor", "auditor"}), []auth.Role{auth.RoleAuditor}, nil, ""},
		{"roles of the wrong type", with(base, "custody_roles", 7), nil, nil, "custody_roles must be a string or a list"},
		{"groups mapped", with(base, "groups", []string{"staff", "sec"}), []auth.Role{auth.RoleAuditor, auth.RoleAdmin}, nil, ""},
		{"roles and groups merged", with(base, "custody_roles", "auditor", "groups", "release-bots"), []auth.Role{auth.RoleAuditor, auth.RolePipeline}, nil, ""},
		{"scopes", with(base, "custody_roles", "pipeline", "custody_scopes", []string{"Reg.Example/team-a"}),
			[]auth.Role{auth.RolePipeline}, []string{"reg.example/team-a"}, ""},
		{"empty scopes refused", with(base, "custody_scopes", []string{}), nil, nil, "custody_scopes is empty"},
		{"bad scope refused", with(base, "custody_scopes", []string{"reg.example/../prod"}), nil, nil, "custody_scopes"},
		{"scopes of the wrong type", with(base, "custody_scopes", map[string]int{"a": 1}), nil, nil, "custody_scopes must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Authenticate(context.Background(), sign(t, k, tc.claims), now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalSet(p.Roles, tc.roles) || !equalSet(p.Scopes, tc.scopes) {
				t.Errorf("roles %v scopes %v, want %v %v", p.Roles, p.Scopes, tc.roles, tc.scopes)
			}
		})
	}
}

func equalSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[T]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestOIDCKeyRotationAndFetchBound(t *testing.T) {
	is := newIssuer(t)
	k1, k2 := newKey(t, "k1", jose.ES256), newKey(t, "k2", jose.ES256)
	is.publish(k1)
	v := newVerifier(t, is, auth.WithKeyFetchInterval(time.Hour))
	now := time.Now()
	if _, err := v.Authenticate(context.Background(), sign(t, k1, claimsAt(is, now)), now); err != nil {
		t.Fatal(err)
	}
	is.publish(k2) // the issuer rotates: the cached set lacks k2, so it is fetched again
	if _, err := v.Authenticate(context.Background(), sign(t, k2, claimsAt(is, now)), now); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	before := is.fetches.Load()
	if before != 2 {
		t.Errorf("%d key fetches, want 2 (first use, rotation)", before)
	}
	rogue := newKey(t, "rogue", jose.ES256)
	for range 20 {
		if _, err := v.Authenticate(context.Background(), sign(t, rogue, claimsAt(is, now)), now); err == nil {
			t.Fatal("rogue key accepted")
		}
	}
	if got := is.fetches.Load(); got > 3 {
		t.Errorf("20 forged tokens caused %d key fetches, want at most the burst of 3 in all", got)
	}
	// Cached keys still work while fetches are held back.
	if _, err := v.Authenticate(context.Background(), sign(t, k1, claimsAt(is, now)), now); err != nil {
		t.Errorf("cached key after the fetch bound: %v", err)
	}
}

func TestNewOIDCVerifierConfig(t *testing.T) {
	is := newIssuer(t)
	client := auth.WithHTTPClient(is.srv.Client())
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		issuer   string
		audience string
		opts     []auth.OIDCOption
		want     string
	}{
		{"none configured", is.url(), audience, []auth.OIDCOption{auth.WithAlgorithms("RS256", "none")}, `"none" is not accepted`},
		{"HMAC configured", is.url(), audience, []auth.OIDCOption{auth.WithAlgorithms("HS256")}, `"HS256" is not accepted`},
		{"no algorithms", is.url(), audience, []auth.OIDCOption{auth.WithAlgorithms()}, "no algorithms"},
		{"http issuer", strings.Replace(is.url(), "https", "http", 1), audience, nil, "https"},
		{"no audience", is.url(), "", nil, "audience is required"},
		{"issuer mismatch", is.url() + "/other", audience, nil, "discovery"},
		{"leeway too large", is.url(), audience, []auth.OIDCOption{auth.WithLeeway(time.Hour)}, "leeway"},
		{"http JWKS", is.url(), audience, []auth.OIDCOption{auth.WithJWKSURL("http://x/keys")}, "https"},
		{"bad group role", is.url(), audience, []auth.OIDCOption{auth.WithGroupRoles("groups", map[string][]auth.Role{"g": {"root"}})}, "unknown role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewOIDCVerifier(ctx, tc.issuer, tc.audience, append([]auth.OIDCOption{client}, tc.opts...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// An explicit JWKS URL skips discovery.
	k := newKey(t, "k", jose.EdDSA)
	is.publish(k)
	v, err := auth.NewOIDCVerifier(ctx, is.url(), audience, client, auth.WithJWKSURL(is.url()+"/keys"), auth.WithLeeway(0))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := v.Authenticate(ctx, sign(t, k, claimsAt(is, now)), now); err != nil {
		t.Errorf("explicit JWKS: %v", err)
	}
	if _, err := v.Authenticate(ctx, sign(t, k, with(claimsAt(is, now), "exp", now.Add(-time.Second).Unix())), now); err == nil {
		t.Errorf("leeway 0 accepted a token expired a second ago")
	}
}

// TestOIDCThroughGuard: a JWT bearer reaches the OIDC verifier through the middleware,
// and an operator learns from the audit log why the issuer's keys could not be read.
func TestOIDCThroughGuard(t *testing.T) {
	is := newIssuer(t)
	k := newKey(t, "k1", jose.ES256)
	is.publish(k)
	v := newVerifier(t, is)
	audit := &auditLog{}
	authn, err := auth.NewAuthenticator(auth.WithOIDC(v))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := auth.NewGuard(authn, audit.logger())
	if err != nil {
		t.Fatal(err)
	}
	h := guard.Middleware(guard.Require(auth.ActionRead, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.PrincipalFrom(r.Context())
		_, _ = io.WriteString(w, p.ID)
	})))
	call := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	now := time.Now()
	if w := call(sign(t, k, claimsAt(is, now))); w.Code != 200 || w.Body.String() != "oidc:"+is.url()+"#user-42" {
		t.Fatalf("valid JWT: %d %q", w.Code, w.Body)
	}
	if w := call(sign(t, k, with(claimsAt(is, now), "custody_roles", []string{"pipeline"}))); w.Code != 403 {
		t.Errorf("JWT without a reading role: %d", w.Code)
	}
	is.failKeys.Store(true)
	rotated := newKey(t, "k2", jose.ES256)
	tok := sign(t, rotated, claimsAt(is, now))
	w := call(tok)
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("key set down: %d", w.Code)
	}
	if strings.Contains(w.Body.String(), "key store down") {
		t.Errorf("the identity provider's error reached the caller: %s", w.Body)
	}
	rec := audit.last(t)
	if cause, _ := rec["cause"].(string); !strings.Contains(cause, "500") {
		t.Errorf("audit cause %q, want the key set's 500", rec["cause"])
	}
	if strings.Contains(audit.String(), tok) || strings.Contains(audit.String(), strings.Split(tok, ".")[2]) {
		t.Error("audit log holds the JWT")
	}
}

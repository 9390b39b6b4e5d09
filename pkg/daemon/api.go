package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
)

// API is how a service's HTTP API admits callers and is served: the credentials it
// accepts (static tokens, OIDC bearer tokens, client certificates; at least one, since
// a request without a credential is refused), the rate each caller may use, and TLS.
// Register its flags with RegisterFlags, check it with Validate, then build the guard
// with Guard and serve with Serve.
type API struct {
	TokensFile      string  // -tokens, CUSTODY_TOKENS_FILE: static API tokens (auth.LoadTokenFile)
	OIDCIssuer      string  // -oidc-issuer, CUSTODY_OIDC_ISSUER: https issuer URL
	OIDCAudience    string  // -oidc-audience, CUSTODY_OIDC_AUDIENCE: required with an issuer
	OIDCJWKSURL     string  // -oidc-jwks-url, CUSTODY_OIDC_JWKS_URL: instead of discovery
	OIDCRolesClaim  string  // -oidc-roles-claim, CUSTODY_OIDC_ROLES_CLAIM
	OIDCScopesClaim string  // -oidc-scopes-claim, CUSTODY_OIDC_SCOPES_CLAIM
	TLSCert         string  // -tls-cert, CUSTODY_TLS_CERT: serve HTTPS with this certificate chain
	TLSKey          string  // -tls-key, CUSTODY_TLS_KEY
	ClientCA        string  // -client-ca, CUSTODY_CLIENT_CA: accept client certificates from these CAs
	ClientCerts     string  // -client-certs, CUSTODY_CLIENT_CERTS: identities of client certificates (auth.LoadCertFile)
	Rate            float64 // -rate-limit, CUSTODY_RATE_LIMIT: requests per second per caller
	Burst           int     // -rate-burst, CUSTODY_RATE_BURST
	envErr          error
}

// RegisterFlags registers the API's flags on fs, each defaulting to its environment
// variable.
func (a *API) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.TokensFile, "tokens", os.Getenv("CUSTODY_TOKENS_FILE"), "static API token `file` (custody tokens create writes one)")
	fs.StringVar(&a.OIDCIssuer, "oidc-issuer", os.Getenv("CUSTODY_OIDC_ISSUER"), "accept OIDC bearer tokens from this https issuer `URL`")
	fs.StringVar(&a.OIDCAudience, "oidc-audience", os.Getenv("CUSTODY_OIDC_AUDIENCE"), "the audience OIDC tokens must name")
	fs.StringVar(&a.OIDCJWKSURL, "oidc-jwks-url", os.Getenv("CUSTODY_OIDC_JWKS_URL"), "the issuer's key set `URL` (default: discovered)")
	fs.StringVar(&a.OIDCRolesClaim, "oidc-roles-claim", os.Getenv("CUSTODY_OIDC_ROLES_CLAIM"), "claim listing Custody roles (default "+auth.DefaultRolesClaim+")")
	fs.StringVar(&a.OIDCScopesClaim, "oidc-scopes-claim", os.Getenv("CUSTODY_OIDC_SCOPES_CLAIM"), "claim listing repository scopes (default "+auth.DefaultScopesClaim+")")
	fs.StringVar(&a.TLSCert, "tls-cert", os.Getenv("CUSTODY_TLS_CERT"), "serve HTTPS with this PEM certificate chain `file`")
	fs.StringVar(&a.TLSKey, "tls-key", os.Getenv("CUSTODY_TLS_KEY"), "PEM private key `file` of -tls-cert")
	fs.StringVar(&a.ClientCA, "client-ca", os.Getenv("CUSTODY_CLIENT_CA"), "accept client certificates issued by the CAs in this PEM `file` (needs -tls-cert)")
	fs.StringVar(&a.ClientCerts, "client-certs", os.Getenv("CUSTODY_CLIENT_CERTS"), "`file` mapping client certificate identities to roles")
	a.Rate, a.Burst = 20, 40
	if v := os.Getenv("CUSTODY_RATE_LIMIT"); v != "" {
		if a.Rate, a.envErr = strconv.ParseFloat(v, 64); a.envErr != nil {
			a.envErr = fmt.Errorf("CUSTODY_RATE_LIMIT: %w", a.envErr)
		}
	}
	if v := os.Getenv("CUSTODY_RATE_BURST"); v != "" {
		var err error
		if a.Burst, err = strconv.Atoi(v); err != nil {
			a.envErr = errors.Join(a.envErr, fmt.Errorf("CUSTODY_RATE_BURST: %w", err))
		}
	}
	fs.Float64Var(&a.Rate, "rate-limit", a.Rate, "requests per second each caller may make")
	fs.IntVar(&a.Burst, "rate-burst", a.Burst, "requests each caller may make at once")
}

// Validate reports every problem with a's settings, including that it would admit
// nobody.
func (a API) Validate() error {
	errs := []error{a.envErr}
	if a.TokensFile == "" && a.OIDCIssuer == "" && a.ClientCA == "" {
		errs = append(errs, errors.New("the API admits no credential, so it would refuse every request: set CUSTODY_TOKENS_FILE (-tokens; `custody tokens create` writes one), CUSTODY_OIDC_ISSUER with CUSTODY_OIDC_AUDIENCE, or CUSTODY_CLIENT_CA with CUSTODY_CLIENT_CERTS"))
	}
	if a.OIDCIssuer != "" && a.OIDCAudience == "" {
		errs = append(errs, errors.New("CUSTODY_OIDC_ISSUER needs CUSTODY_OIDC_AUDIENCE (-oidc-audience): the audience tokens must be issued for"))
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		errs = append(errs, errors.New("TLS: set both CUSTODY_TLS_CERT and CUSTODY_TLS_KEY (-tls-cert, -tls-key), or neither"))
	}
	if (a.ClientCA == "") != (a.ClientCerts == "") {
		errs = append(errs, errors.New("client certificates: set both CUSTODY_CLIENT_CA and CUSTODY_CLIENT_CERTS (-client-ca, -client-certs), or neither"))
	}
	if a.ClientCA != "" && a.TLSCert == "" {
		errs = append(errs, errors.New("client certificates need TLS: set CUSTODY_TLS_CERT and CUSTODY_TLS_KEY"))
	}
	if a.Rate <= 0 || a.Burst < 1 {
		errs = append(errs, fmt.Errorf("rate limit %g/s with burst %d: both must be positive", a.Rate, a.Burst))
	}
	return errors.Join(errs...)
}

// Guard builds the API's authenticator and guard. Audit records (every authentication
// failure and authorization decision) go to log with log=audit.
func (a API) Guard(ctx context.Context, log *slog.Logger, opts ...auth.GuardOption) (*auth.Guard, error) {
	authn, err := a.authenticator(ctx)
	if err != nil {
		return nil, err
	}
	opts = append([]auth.GuardOption{auth.WithRateLimit(rate.Limit(a.Rate), a.Burst)}, opts...)
	return auth.NewGuard(authn, log.With("log", "audit"), opts...)
}

// SessionGuard builds the guard of server-rendered pages: the API's credentials, each
// also good for logging in to a session (cookie), and a redirect to loginPath for a
// browser without one.
func (a API) SessionGuard(ctx context.Context, log *slog.Logger, loginPath string) (*auth.Guard, error) {
	sessions, err := auth.NewSessions()
	if err != nil {
		return nil, err
	}
	authn, err := a.authenticator(ctx, auth.WithSessions(sessions))
	if err != nil {
		return nil, err
	}
	return auth.NewGuard(authn, log.With("log", "audit"), auth.WithRateLimit(rate.Limit(a.Rate), a.Burst),
		auth.WithSessionAuth(), auth.WithLoginRedirect(loginPath))
}

func (a API) authenticator(ctx context.Context, extra ...auth.AuthOption) (*auth.Authenticator, error) {
	var aopts []auth.AuthOption
	if a.TokensFile != "" {
		tokens, err := auth.LoadTokenFile(a.TokensFile)
		if err != nil {
			return nil, err
		}
		aopts = append(aopts, auth.WithTokens(tokens))
	}
	if a.OIDCIssuer != "" {
		var oopts []auth.OIDCOption
		if a.OIDCJWKSURL != "" {
			oopts = append(oopts, auth.WithJWKSURL(a.OIDCJWKSURL))
		}
		if a.OIDCRolesClaim != "" {
			oopts = append(oopts, auth.WithRolesClaim(a.OIDCRolesClaim))
		}
		if a.OIDCScopesClaim != "" {
			oopts = append(oopts, auth.WithScopesClaim(a.OIDCScopesClaim))
		}
		v, err := auth.NewOIDCVerifier(ctx, a.OIDCIssuer, a.OIDCAudience, oopts...)
		if err != nil {
			return nil, fmt.Errorf("OIDC: %w", err)
		}
		aopts = append(aopts, auth.WithOIDC(v))
	}
	if a.ClientCerts != "" {
		m, err := auth.LoadCertFile(a.ClientCerts)
		if err != nil {
			return nil, err
		}
		aopts = append(aopts, auth.WithClientCerts(m))
	}
	return auth.NewAuthenticator(append(aopts, extra...)...)
}

// TLSConfig is the server's TLS configuration, or nil when the API is served over plain
// HTTP (no -tls-cert).
func (a API) TLSConfig() (*tls.Config, error) {
	if a.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(a.TLSCert, a.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	var pool *x509.CertPool
	if a.ClientCA != "" {
		pem, err := os.ReadFile(a.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate in it", a.ClientCA)
		}
	}
	c := auth.ServerTLSConfig(pool)
	c.Certificates = []tls.Certificate{cert}
	return c, nil
}

// shutdownGrace bounds how long Serve waits for requests in flight when it stops.
const shutdownGrace = 10 * time.Second

// Serve serves h on addr (h is guarded and hardened already: httpsec.Harden for request
// ids, security headers, body limits, panic recovery), with sopts on the server (error
// log, timeouts) and over TLS when configured, until ctx ends; then it shuts the server
// down gracefully. It returns nil after a clean stop.
func (a API) Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger, sopts ...httpsec.ServerOption) error {
	tc, err := a.TLSConfig()
	if err != nil {
		return err
	}
	sopts = append([]httpsec.ServerOption{httpsec.WithErrorLog(log)}, sopts...)
	if tc != nil {
		sopts = append(sopts, httpsec.WithTLSConfig(tc))
	}
	srv, err := httpsec.NewServer(addr, h, sopts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	errc := make(chan error, 1)
	go func() {
		if tc != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut the API down: %w", err)
	}
	return nil
}

// Token is an API token a service sends to another (the ledger): given directly
// (-ledger-token, CUSTODY_LEDGER_TOKEN) or, better for secrets, in a file
// (-ledger-token-file, CUSTODY_LEDGER_TOKEN_FILE) that Value reads.
type Token struct {
	Value string
	File  string
}

// RegisterFlags registers -<name> and -<name>-file, defaulting to the environment
// variables env and env_FILE.
func (t *Token) RegisterFlags(fs *flag.FlagSet, name, env, usage string) {
	fs.StringVar(&t.Value, name, os.Getenv(env), usage+" (prefer -"+name+"-file)")
	fs.StringVar(&t.File, name+"-file", os.Getenv(env+"_FILE"), "`file` holding "+usage)
}

// Get returns the token: Value, else the first line of File, else "".
func (t Token) Get() (string, error) {
	if t.Value != "" || t.File == "" {
		return t.Value, nil
	}
	f, err := os.Open(t.File)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, auth.MaxClientToken+2))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", t.File, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || len(tok) > auth.MaxClientToken || strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("token file %s: want one token on one line", t.File)
	}
	return tok, nil
}

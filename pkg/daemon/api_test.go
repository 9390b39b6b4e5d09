package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/httpsec"
)

var apiEnv = []string{"CUSTODY_TOKENS_FILE", "CUSTODY_OIDC_ISSUER", "CUSTODY_OIDC_AUDIENCE", "CUSTODY_OIDC_JWKS_URL",
	"CUSTODY_TLS_CERT", "CUSTODY_TLS_KEY", "CUSTODY_CLIENT_CA", "CUSTODY_CLIENT_CERTS", "CUSTODY_RATE_LIMIT", "CUSTODY_RATE_BURST"}

func parseAPI(t *testing.T, args ...string) daemon.API {
	t.Helper()
	for _, k := range apiEnv {
		t.Setenv(k, "")
	}
	var a daemon.API
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAPIValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string // "" is valid
	}{
		"tokens":                 {[]string{"-tokens", "t.yaml"}, ""},
		"no credential at all":   {nil, "admits no credential"},
		"issuer, no audience":    {[]string{"-oidc-issuer", "https://idp.example"}, "needs CUSTODY_OIDC_AUDIENCE"},
		"cert without key":       {[]string{"-tokens", "t.yaml", "-tls-cert", "c.pem"}, "set both CUSTODY_TLS_CERT and CUSTODY_TLS_KEY"},
		"client CA without TLS":  {[]string{"-client-ca", "ca.pem", "-client-certs", "c.yaml"}, "client certificates need TLS"},
		"client CA without file": {[]string{"-tls-cert", "c", "-tls-key", "k", "-client-ca", "ca.pem"}, "set both CUSTODY_CLIENT_CA and CUSTODY_CLIENT_CERTS"},
		"zero rate":              {[]string{"-tokens", "t.yaml", "-rate-limit", "0"}, "must be positive"},
	} {
		t.Run(name, func(t *testing.T) {
			err := parseAPI(t, tc.args...).Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// A served API refuses a request without a token, serves one with a token allowed the
// route, refuses one whose token lacks the role, and speaks only TLS when given a
// certificate.
func TestAPIServe(t *testing.T) {
	dir := t.TempDir()
	auditor, pipeline := auth.GenerateToken(), auth.GenerateToken()
	file, err := auth.MarshalTokenFile(
		auth.TokenEntry{Name: "audit", SHA256: auth.HashToken(auditor), Roles: []auth.Role{auth.RoleAuditor}},
		auth.TokenEntry{Name: "ci", SHA256: auth.HashToken(pipeline), Roles: []auth.Role{auth.RolePipeline}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, file, 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := selfSigned(t, dir)
	addr := freeAddr(t)
	a := parseAPI(t, "-tokens", tokens, "-tls-cert", certFile, "-tls-key", keyFile)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	guard, err := a.Guard(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/things", guard.Require(auth.ActionRead, auth.Global, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	done := make(chan error, 1)
	hardened, err := httpsec.Harden(log, guard.Middleware(mux))
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- a.Serve(ctx, addr, hardened, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	get := func(scheme, token string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/v1/things", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		var resp *http.Response
		var err error
		for range 50 {
			if resp, err = client.Do(req); err == nil || scheme == "http" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, _ := get("https", auditor); code != http.StatusOK {
		t.Errorf("auditor token: %d, want 200", code)
	}
	if code, h := get("https", ""); code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %v, want 401 with WWW-Authenticate", code, h)
	}
	if code, _ := get("https", pipeline); code != http.StatusForbidden {
		t.Errorf("pipeline token: %d, want 403", code)
	}
	if code, h := get("https", auditor); h.Get("Strict-Transport-Security") == "" || h.Get("X-Request-Id") == "" || code != http.StatusOK {
		t.Errorf("hardening headers missing: %v", h)
	}
	if code, _ := get("http", auditor); code == http.StatusOK {
		t.Error("the API answered over plain HTTP although it has a certificate")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key, and returns
// their files and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "custody test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	good, twoLines := filepath.Join(dir, "good"), filepath.Join(dir, "two")
	_ = os.WriteFile(good, []byte("custody_abc\n"), 0o600)
	_ = os.WriteFile(twoLines, []byte("custody_abc\ncustody_def\n"), 0o600)
	for name, tc := range map[string]struct {
		tok     daemon.Token
		want    string
		wantErr bool
	}{
		"value":           {daemon.Token{Value: "custody_x"}, "custody_x", false},
		"value over file": {daemon.Token{Value: "custody_x", File: good}, "custody_x", false},
		"file":            {daemon.Token{File: good}, "custody_abc", false},
		"none":            {daemon.Token{}, "", false},
		"missing file":    {daemon.Token{File: filepath.Join(dir, "nope")}, "", true},
		"two lines":       {daemon.Token{File: twoLines}, "", true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := tc.tok.Get()
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("Get = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

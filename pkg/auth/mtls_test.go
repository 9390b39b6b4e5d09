package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
)

// ca is a certificate authority made in the test.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// issue signs a leaf; edit sets its names and usage.
func (c *ca) issue(t *testing.T, edit func(*x509.Certificate)) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	edit(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func clientCert(c *ca, t *testing.T, cn string, uri string) tls.Certificate {
	return c.issue(t, func(x *x509.Certificate) {
		x.Subject = pkix.Name{CommonName: cn}
		x.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if uri != "" {
			u, _ := url.Parse(uri)
			x.URIs = []*url.URL{u}
		}
	})
}

func TestMTLS(t *testing.T) {
	root, other := newCA(t, "custody test CA"), newCA(t, "someone else's CA")
	mapper, err := auth.NewCertMapper(
		auth.CertIdentity{URI: "spiffe://custody.test/ci/team-a", Roles: []auth.Role{auth.RolePipeline}, Scopes: []string{"reg.example/team-a"}},
		auth.CertIdentity{CommonName: "auditor-bot", Roles: []auth.Role{auth.RoleAuditor}},
		auth.CertIdentity{DNS: "ambiguous.custody.test", Roles: []auth.Role{auth.RoleAuditor}},
		auth.CertIdentity{CommonName: "ambiguous", Roles: []auth.Role{auth.RoleAdmin}},
	)
	if err != nil {
		t.Fatal(err)
	}
	audit := &auditLog{}
	tokens, err := auth.NewTokenStore(auth.TokenEntry{Name: "t", SHA256: auth.HashToken("x"), Roles: []auth.Role{auth.RoleAuditor}})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(auth.WithClientCerts(mapper), auth.WithTokens(tokens))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := auth.NewGuard(authn, audit.logger())
	if err != nil {
		t.Fatal(err)
	}
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.PrincipalFrom(r.Context())
		_, _ = io.WriteString(w, p.ID+" "+string(p.Method))
	})
	mux := http.NewServeMux()
	mux.Handle("GET /status", guard.Require(auth.ActionReadPromotion, func(*http.Request) (auth.Resource, error) {
		return auth.Resource{Repositories: []string{"reg.example/team-a/app"}}, nil
	}, who))
	h, err := httpsec.Harden(slog.New(slog.DiscardHandler), guard.Middleware(mux))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = auth.ServerTLSConfig(root.pool())
	srv.TLS.Certificates = []tls.Certificate{root.issue(t, func(x *x509.Certificate) {
		x.Subject = pkix.Name{CommonName: "server"}
		x.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		x.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})}
	srv.StartTLS()
	defer srv.Close()
	if srv.TLS.ClientAuth != tls.VerifyClientCertIfGiven || srv.TLS.MinVersion != tls.VersionTLS12 {
		t.Fatalf("server TLS config: client auth %v, min version %#x", srv.TLS.ClientAuth, srv.TLS.MinVersion)
	}

	call := func(t *testing.T, cert *tls.Certificate, authz string) (int, string, error) {
		t.Helper()
		cfg := &tls.Config{RootCAs: root.pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			// Always present it: Go's client would otherwise keep back a certificate the
			// server's CA list does not name, and the server would never see it.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest("GET", srv.URL+"/status", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	spiffe := clientCert(root, t, "ci", "spiffe://custody.test/ci/team-a")
	byCN := clientCert(root, t, "auditor-bot", "")
	unmapped := clientCert(root, t, "stranger", "spiffe://custody.test/ci/team-b")
	foreign := clientCert(other, t, "auditor-bot", "spiffe://custody.test/ci/team-a")
	ambiguous := root.issue(t, func(x *x509.Certificate) {
		x.Subject = pkix.Name{CommonName: "ambiguous"}
		x.DNSNames = []string{"ambiguous.custody.test"}
		x.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	for _, tc := range []struct {
		name      string
		cert      *tls.Certificate
		authz     string
		status    int
		body      string
		handshake bool // the handshake itself must fail
	}{
		{"mapped by URI SAN", &spiffe, "", 200, "mtls:uri:spiffe://custody.test/ci/team-a mtls", false},
		{"mapped by CN", &byCN, "", 200, "mtls:cn:auditor-bot mtls", false},
		{"no certificate", nil, "", 401, "no credentials", false},
		{"unmapped certificate", &unmapped, "", 401, "not mapped", false},
		{"matches two identities", &ambiguous, "", 401, "several identities", false},
		{"certificate from another CA", &foreign, "", 0, "", true},
		{"invalid bearer beside a valid certificate", &spiffe, "Bearer custody_" + strings.Repeat("A", 43), 401, "unknown API token", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := call(t, tc.cert, tc.authz)
			if tc.handshake {
				if err == nil {
					t.Fatalf("a certificate from another CA was accepted: %d %s", status, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("status %d body %q, want %d with %q", status, body, tc.status, tc.body)
			}
		})
	}
	rec := audit.records(t)
	var sawAllow bool
	for _, r := range rec {
		if r["principal"] == "mtls:uri:spiffe://custody.test/ci/team-a" && r["decision"] == "allow" && r["action"] == "read-promotion" {
			sawAllow = true
		}
	}
	if !sawAllow {
		t.Errorf("no audit record of the certificate's allowed request: %v", rec)
	}
}

func TestCertMapperConfig(t *testing.T) {
	for name, ids := range map[string][]auth.CertIdentity{
		"none":             nil,
		"two identities":   {{URI: "spiffe://a", CommonName: "a", Roles: []auth.Role{auth.RoleAuditor}}},
		"no identity":      {{Roles: []auth.Role{auth.RoleAuditor}}},
		"no roles":         {{CommonName: "a"}},
		"unknown role":     {{CommonName: "a", Roles: []auth.Role{"root"}}},
		"duplicate":        {{CommonName: "a", Roles: []auth.Role{auth.RoleAuditor}}, {CommonName: "a", Roles: []auth.Role{auth.RoleAdmin}}},
		"bad scope":        {{CommonName: "a", Roles: []auth.Role{auth.RolePipeline}, Scopes: []string{"reg.example//x"}}},
		"scoped admin":     {{CommonName: "a", Roles: []auth.Role{auth.RoleAdmin}, Scopes: []string{"reg.example/x"}}},
		"empty scope list": {{CommonName: "a", Roles: []auth.Role{auth.RolePipeline}, Scopes: []string{}}},
	} {
		if _, err := auth.NewCertMapper(ids...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Without a verified chain nothing is taken from a certificate.
	m, err := auth.NewCertMapper(auth.CertIdentity{CommonName: "a", Roles: []auth.Role{auth.RoleAuditor}})
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: "a"}}
	if _, err := m.Authenticate(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}); err == nil {
		t.Error("an unverified peer certificate was accepted")
	}
	if p, err := m.Authenticate(&tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}); err != nil || p.ID != "mtls:cn:a" {
		t.Errorf("verified chain: %+v, %v", p, err)
	}
	if c := auth.ServerTLSConfig(nil); c.ClientAuth != tls.NoClientCert || c.ClientCAs != nil {
		t.Errorf("without a CA the server must not ask for certificates: %v", c.ClientAuth)
	}
}

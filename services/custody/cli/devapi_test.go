package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The header checklist on custody dev's API, which serves ingest and the ledger: every
// answer (refusals included) carries a request id, which error bodies repeat, and the
// API's security headers; only the health check answers without a token.
func TestDevAPIHardening(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the dev stack")
	}
	s := startDev(t, devConfig{
		data: t.TempDir(), addr: bundleTestAddr(t), registryAddr: bundleTestAddr(t), natsAddr: "127.0.0.1:0",
		stream: "CUSTODY", prefix: "custody", bucket: "CUSTODY_BLOBS", evidenceWait: time.Minute,
	})
	token := devTokenOf(t, s.cfg.data)
	base := "http://" + s.cfg.addr
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"health, no token", "GET", "/healthz", "", 200},
		{"ledger, no token", "GET", "/v1/artifacts/sha256:" + strings.Repeat("0", 64) + "/provenance", "", 401},
		{"ledger, wrong token", "GET", "/v1/log/checkpoint", "custody_not-a-token", 401},
		{"ledger, token", "GET", "/v1/artifacts/sha256:" + strings.Repeat("0", 64) + "/provenance", token, 404},
		{"audit API, no token", "POST", "/custody.audit.v1.AuditService/ListArtifacts", "", 401},
		{"ingest, no token", "POST", "/v1/events/build", "", 401},
		{"ingest, token, bad body", "POST", "/v1/events/build", token, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			h := resp.Header
			id := h.Get("X-Request-Id")
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			} {
				if h.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, h.Get(k), want)
				}
			}
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			if id == "" {
				t.Error("no X-Request-Id")
			}
			if tc.want == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.want >= 400 && !strings.HasPrefix(tc.path, "/custody.audit") {
				var e struct {
					RequestID string `json:"requestId"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.RequestID != id {
					t.Errorf("error body %s does not carry the request id %s", body, id)
				}
			}
		})
	}
}

// custody dev serves the auditors' pages: a browser without a session is sent to the
// login form, and the development token logs it in.
func TestDevPages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the dev stack")
	}
	s := startDev(t, devConfig{
		data: t.TempDir(), addr: bundleTestAddr(t), registryAddr: bundleTestAddr(t), natsAddr: "127.0.0.1:0",
		stream: "CUSTODY", prefix: "custody", bucket: "CUSTODY_BLOBS", evidenceWait: time.Minute,
	})
	base := "http://" + s.cfg.addr
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("/ui/ without a session: %d to %q, want 303 to /ui/login", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := "token=" + devTokenOf(t, s.cfg.data)
	req, _ := http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-custody_session" {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d, cookie %+v; want 303 and a Secure, HttpOnly, SameSite=Strict session cookie", resp.StatusCode, cookie)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/ui/", nil)
	req.AddCookie(cookie)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<html") {
		t.Fatalf("/ui/ with the session: %d\n%.500s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") {
		t.Errorf("pages CSP = %q", csp)
	}
}

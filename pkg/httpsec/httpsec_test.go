package httpsec_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/httpsec"
)

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

func TestSecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile httpsec.Profile
		tls     bool
		csp     string
	}{
		{"api over http", httpsec.API, false, "default-src 'none'; frame-ancestors 'none'"},
		{"api over tls", httpsec.API, true, "default-src 'none'; frame-ancestors 'none'"},
		{"pages over tls", httpsec.Pages, true, "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
		{"unknown profile is the strictest", httpsec.Profile(42), false, "default-src 'none'; frame-ancestors 'none'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if !tc.tls {
				r.TLS = nil
			} else {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			httpsec.SecurityHeaders(tc.profile, http.HandlerFunc(ok)).ServeHTTP(w, r)
			want := map[string]string{
				"Content-Security-Policy": tc.csp,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-store",
			}
			if tc.tls {
				want["Strict-Transport-Security"] = "max-age=63072000"
			}
			for k, v := range want {
				if got := w.Header().Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want exactly %q", k, got, v)
				}
			}
			if !tc.tls && w.Header().Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS sent over plain HTTP: %q", w.Header().Get("Strict-Transport-Security"))
			}
		})
	}
}

// decodeError reads an error answer strictly.
func decodeError(t *testing.T, body []byte) httpsec.ErrorBody {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e httpsec.ErrorBody
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

func TestMaxBody(t *testing.T) {
	const limit = 16
	var read []byte
	var called bool
	h := httpsec.RequestID(httpsec.MaxBody(limit, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		b, err := io.ReadAll(r.Body)
		if err != nil {
			httpsec.WriteError(w, r, err)
			return
		}
		read = b
		w.WriteHeader(http.StatusNoContent)
	})))
	for _, tc := range []struct {
		name    string
		body    io.Reader
		length  int64 // -1: unknown (chunked)
		status  int
		handled bool
	}{
		{"within the limit", strings.NewReader("0123456789abcdef"), 16, http.StatusNoContent, true},
		{"declared too large", strings.NewReader("0123456789abcdefX"), 17, http.StatusRequestEntityTooLarge, false},
		{"chunked too large", io.MultiReader(strings.NewReader("0123456789"), strings.NewReader("abcdefXYZ")), -1, http.StatusRequestEntityTooLarge, true},
		{"chunked within", strings.NewReader("0123"), -1, http.StatusNoContent, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read, called = nil, false
			r := httptest.NewRequest(http.MethodPost, "/", tc.body)
			r.ContentLength = tc.length
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if called != tc.handled {
				t.Errorf("handler called %v, want %v", called, tc.handled)
			}
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tc.status, w.Body)
			}
			if tc.status == http.StatusNoContent && len(read) == 0 {
				t.Errorf("handler read nothing")
			}
			if tc.status == http.StatusRequestEntityTooLarge {
				e := decodeError(t, w.Body.Bytes())
				if !strings.Contains(e.Error, "too large") || e.RequestID == "" {
					t.Errorf("413 body %+v: want a too-large message and a request id", e)
				}
				if len(read) != 0 {
					t.Errorf("handler got %q past the limit", read)
				}
			}
		})
	}
}

var requestIDFormat = regexp.MustCompile(`^[A-Z2-7]{26}$`)

func TestRequestID(t *testing.T) {
	var fromCtx string
	h := httpsec.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fromCtx = httpsec.RequestIDFrom(r.Context())
		httpsec.WriteError(w, r, fmt.Errorf("%w: no artifact here", httpsec.ErrNotFound))
	}))
	seen := map[string]bool{}
	for i := range 3 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Request-Id", "attacker-chosen\nforged=1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get(httpsec.HeaderRequestID)
		if !requestIDFormat.MatchString(got) {
			t.Fatalf("request %d: X-Request-Id %q is not a generated id", i, got)
		}
		if got != fromCtx {
			t.Errorf("header %q differs from the context's %q", got, fromCtx)
		}
		if e := decodeError(t, w.Body.Bytes()); e.RequestID != got {
			t.Errorf("error body requestId %q, header %q", e.RequestID, got)
		}
		if seen[got] {
			t.Errorf("request id %q repeated", got)
		}
		seen[got] = true
	}
	if id := httpsec.RequestIDFrom(httptest.NewRequest(http.MethodGet, "/", nil).Context()); id != "" {
		t.Errorf("a context without an id gives %q", id)
	}
}

func TestStatusFor(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", httpsec.ErrBadRequest), 400},
		{fmt.Errorf("x: %w", httpsec.ErrUnauthenticated), 401},
		{fmt.Errorf("x: %w", httpsec.ErrForbidden), 403},
		{fmt.Errorf("x: %w", httpsec.ErrNotFound), 404},
		{fmt.Errorf("x: %w", httpsec.ErrMethodNotAllowed), 405},
		{fmt.Errorf("x: %w", httpsec.ErrTooLarge), 413},
		{fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 3}), 413},
		{fmt.Errorf("x: %w", httpsec.ErrUnsupportedMediaType), 415},
		{fmt.Errorf("x: %w", httpsec.ErrRateLimited), 429},
		{fmt.Errorf("x: %w", httpsec.ErrUnavailable), 503},
		{errors.New("database password wrong"), 500},
		{nil, 200},
	} {
		t.Run(fmt.Sprint(tc.want), func(t *testing.T) {
			if got := httpsec.StatusFor(tc.err); got != tc.want {
				t.Errorf("StatusFor(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestWriteErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		err    error
		want   string
	}{
		{"5xx is generic", 500, errors.New("pq: password authentication failed for user custody"), "Internal Server Error"},
		{"503 is generic", 503, fmt.Errorf("%w: dial 10.0.0.5:5432", httpsec.ErrUnavailable), "Service Unavailable"},
		{"4xx is precise", 400, fmt.Errorf("%w: digest must be sha256:<64 hex>", httpsec.ErrBadRequest), "bad request: digest must be sha256:<64 hex>"},
		{"4xx on one line", 400, errors.New("line one\nline two"), "line one line two"},
		{"4xx bounded", 400, errors.New(strings.Repeat("a", 5000)), strings.Repeat("a", 1024) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r = r.WithContext(httpsec.ContextWithRequestID(r.Context(), "RID"))
			w := httptest.NewRecorder()
			httpsec.WriteErrorStatus(w, r, tc.status, tc.err)
			if w.Code != tc.status || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d type %q", w.Code, w.Header().Get("Content-Type"))
			}
			if e := decodeError(t, w.Body.Bytes()); e.Error != tc.want || e.RequestID != "RID" {
				t.Errorf("body %+v, want error %q and requestId RID", e, tc.want)
			}
		})
	}
}

func TestRecover(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h, err := httpsec.Harden(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Disposition", "attachment; filename=x")
		if r.URL.Path == "/late" {
			_, _ = w.Write([]byte("partial answer"))
		}
		panic("boom: " + fmt.Sprint(len(body)))
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	t.Run("before the answer", func(t *testing.T) {
		logs.Reset()
		resp, err := http.Post(srv.URL+"/early", "text/plain", strings.NewReader("hunter2-secret"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 500 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		id := resp.Header.Get(httpsec.HeaderRequestID)
		e := decodeError(t, body)
		if e.Error != "Internal Server Error" || e.RequestID != id || id == "" {
			t.Errorf("body %+v, header id %q", e, id)
		}
		if resp.Header.Get("Content-Disposition") != "" {
			t.Errorf("the panicking handler's header survived")
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("security headers lost on the 500")
		}
		l := logs.String()
		if !strings.Contains(l, "boom: 14") || !strings.Contains(l, id) || !strings.Contains(l, `"stack"`) {
			t.Errorf("panic log lacks the panic, request id or stack: %s", l)
		}
		if strings.Contains(l, "hunter2") {
			t.Errorf("panic log holds the request body: %s", l)
		}
	})
	t.Run("after the answer started", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/late")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}
		if err == nil {
			t.Fatalf("a panic after the answer started must abort the connection, got a whole answer")
		}
	})
}

func TestNewServer(t *testing.T) {
	srv, err := httpsec.NewServer("127.0.0.1:0", http.HandlerFunc(ok))
	if err != nil {
		t.Fatal(err)
	}
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != time.Minute || srv.WriteTimeout != 2*time.Minute ||
		srv.IdleTimeout != 2*time.Minute || srv.MaxHeaderBytes != 64<<10 || srv.TLSConfig.MinVersion != tls.VersionTLS12 {
		t.Errorf("defaults not set: %+v", srv)
	}
	srv, err = httpsec.NewServer(":0", http.HandlerFunc(ok), httpsec.WithTimeouts(time.Second, 2*time.Second, 3*time.Second, 4*time.Second),
		httpsec.WithMaxHeaderBytes(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	if srv.ReadHeaderTimeout != time.Second || srv.ReadTimeout != 2*time.Second || srv.WriteTimeout != 3*time.Second ||
		srv.IdleTimeout != 4*time.Second || srv.MaxHeaderBytes != 8<<10 {
		t.Errorf("options not applied: %+v", srv)
	}
	for name, opt := range map[string]httpsec.ServerOption{
		"zero timeout":        httpsec.WithTimeouts(0, time.Second, time.Second, time.Second),
		"header after read":   httpsec.WithTimeouts(time.Minute, time.Second, time.Second, time.Second),
		"huge headers":        httpsec.WithMaxHeaderBytes(16 << 20),
		"TLS 1.0":             httpsec.WithTLSConfig(&tls.Config{MinVersion: tls.VersionTLS10}),
		"TLS version not set": httpsec.WithTLSConfig(&tls.Config{}),
		"nil logger":          httpsec.WithErrorLog(nil),
	} {
		if _, err := httpsec.NewServer(":0", http.HandlerFunc(ok), opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := httpsec.NewServer(":0", nil); err == nil {
		t.Errorf("nil handler accepted")
	}
}

func TestTLSConfig(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	srv.TLS = httpsec.TLSConfig()
	srv.StartTLS()
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	for _, tc := range []struct {
		name string
		cfg  func(*tls.Config)
		ok   bool
	}{
		{"TLS 1.3", func(*tls.Config) {}, true},
		{"TLS 1.2 AEAD", func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, true},
		{"TLS 1.1", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }, false},
		{"TLS 1.2 CBC only", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
				tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := base.Clone()
			tc.cfg(tr.TLSClientConfig)
			c := &http.Client{Transport: tr}
			resp, err := c.Get(srv.URL)
			if err == nil {
				_ = resp.Body.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("handshake error %v, want success %v", err, tc.ok)
			}
		})
	}
}

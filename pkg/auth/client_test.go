package auth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/custody-dev/custody/pkg/auth"
)

func TestBearerTransport(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://localhost:"+r.Host[len("127.0.0.1:"):]+"/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	rt, err := auth.NewBearerTransport(nil, u, "custody_abc")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: rt}
	if _, err := c.Get(srv.URL + "/redirect"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "Bearer custody_abc" || got[1] != "" {
		t.Errorf("Authorization seen = %q; want the token at the server only, not after the redirect to another host", got)
	}
	for name, tc := range map[string]struct{ server, token string }{
		"plain http off loopback": {"http://ledger.example:8081", "custody_abc"},
		"token with a space":      {"https://ledger.example", "custody abc"},
		"token with a newline":    {"https://ledger.example", "custody_abc\r\nX-Evil: 1"},
		"not http":                {"ftp://ledger.example", "custody_abc"},
	} {
		t.Run(name, func(t *testing.T) {
			u, _ := url.Parse(tc.server)
			if _, err := auth.NewBearerTransport(nil, u, tc.token); err == nil {
				t.Fatal("NewBearerTransport accepted it")
			}
		})
	}
	u, _ = url.Parse("https://ledger.example")
	if _, err := auth.NewBearerTransport(nil, u, "custody_abc"); err != nil {
		t.Errorf("https: %v", err)
	}
}

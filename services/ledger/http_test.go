package ledger_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/ledger"
	svc "github.com/custody-dev/custody/services/ledger"
)

func TestAPIErrorsAndHeaders(t *testing.T) {
	f := newFixture(t)
	d := digestOf("known")
	if _, err := f.store.PutBuild(context.Background(), ledger.PutBuildRequest{Build: ledger.Build{Digest: d, EventID: "ev-1"}}); err != nil {
		t.Fatal(err)
	}
	unknown := digestOf("unknown")
	for _, tc := range []struct {
		name, method, path string
		status             int
		errorHas           string
	}{
		{"provenance", "GET", "/v1/artifacts/" + d + "/provenance", 200, ""},
		{"unknown digest", "GET", "/v1/artifacts/" + unknown + "/provenance", 404, unknown},
		{"malformed digest", "GET", "/v1/artifacts/sha256:1234/provenance", 400, "sha256:<64 lowercase hex>"},
		{"tag instead of digest", "GET", "/v1/artifacts/latest/provenance", 400, `"latest"`},
		{"uppercase digest", "GET", "/v1/artifacts/" + strings.ToUpper(d) + "/provenance", 400, "digest"},
		{"unknown promotion", "GET", "/v1/promotions/req-nope", 404, "req-nope"},
		{"health", "GET", "/healthz", 200, ""},
		{"wrong method", "POST", "/v1/artifacts/" + d + "/provenance", 405, "method not allowed"},
		{"unknown path", "GET", "/v1/nothing", 404, "no such endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, f.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			for h, want := range map[string]string{
				"Content-Type": "application/json", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if tc.errorHas == "" {
				return
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tc.errorHas) {
				t.Errorf("error body %s (%v) does not say %q", body, err, tc.errorHas)
			}
		})
	}
	t.Run("provenance lists are never null", func(t *testing.T) {
		resp, err := http.Get(f.srv.URL + "/v1/artifacts/" + d + "/provenance")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"attestations", "scans", "decisions", "promotions", "timeline"} {
			if string(raw[k]) != "[]" {
				t.Errorf("%s = %s, want []", k, raw[k])
			}
		}
	})
	t.Run("health fails when the database is gone", func(t *testing.T) {
		if err := f.store.Close(); err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error string `json:"error"`
		}
		resp := f.get(t, "/healthz", &e)
		if resp.StatusCode != http.StatusServiceUnavailable || e.Error == "" {
			t.Errorf("healthz = %d %q, want 503 with an error", resp.StatusCode, e.Error)
		}
		if strings.Contains(e.Error, "sql") {
			t.Errorf("503 answer leaks internals: %q", e.Error)
		}
		resp = f.get(t, "/v1/artifacts/"+d+"/provenance", &e)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("provenance with the database closed = %d, want 500", resp.StatusCode)
		}
	})
}

func TestPatternsAreMountable(t *testing.T) {
	// custody dev mounts every service's handler on one server; the patterns must be
	// valid Go 1.22 mux patterns that do not collide with each other.
	mux := http.NewServeMux()
	for _, p := range svc.Patterns() {
		mux.Handle(p, http.NotFoundHandler())
	}
	// Every listed pattern reaches the service's own handler (not its JSON 404).
	f := newFixture(t)
	for _, p := range svc.Patterns() {
		method, path, ok := strings.Cut(p, " ")
		if !ok { // a path prefix for every method: the audit API's
			method, path = http.MethodPost, p+"GetProvenance"
		}
		path = strings.NewReplacer("{digest}", digestOf("x"), "{id}", "x").Replace(path)
		req, err := http.NewRequest(method, f.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "no such endpoint") {
			t.Errorf("%s: listed in Patterns but not routed: %s", p, body)
		}
	}
}

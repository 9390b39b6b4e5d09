package gate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/services/gate"
)

func TestLedgerEvidence(t *testing.T) {
	known := "sha256:" + strings.Repeat("1", 64)
	env1, env2 := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/api/v1/artifacts/" + known + "/provenance":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"digest":"` + known + `","attestations":[{"envelopeDigest":"` + env1 + `","predicateType":"x","recordedAt":"2026-11-01T10:00:00.5Z"},{"envelopeDigest":"` + env2 + `","recordedAt":"2026-11-02T00:00:00Z"}]}`))
		case "/api/v1/artifacts/sha256:" + strings.Repeat("2", 64) + "/provenance":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/api/v1/artifacts/sha256:" + strings.Repeat("3", 64) + "/provenance":
			_, _ = w.Write([]byte(`{"attestations":[{"envelopeDigest":"../../etc/passwd"}]}`))
		case "/api/v1/artifacts/sha256:" + strings.Repeat("4", 64) + "/provenance":
			_, _ = w.Write([]byte(`{"attestations":[{"envelopeDigest":"` + env1 + `","recordedAt":""}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ev, err := gate.NewLedgerEvidence(srv.URL+"/api/", gate.WithBearerToken("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		digest  string
		want    []gate.Envelope
		wantErr string
	}{
		{"recorded attestations", known, []gate.Envelope{
			{Digest: env1, PredicateType: "x", RecordedAt: time.Date(2026, 11, 1, 10, 0, 0, 5e8, time.UTC)},
			{Digest: env2, RecordedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)},
		}, ""},
		{"no recorded time", "sha256:" + strings.Repeat("4", 64), nil, "recordedAt"},
		{"unknown digest is no evidence yet", "sha256:" + strings.Repeat("9", 64), nil, ""},
		{"server error", "sha256:" + strings.Repeat("2", 64), nil, "500 Internal Server Error"},
		{"bad envelope digest", "sha256:" + strings.Repeat("3", 64), nil, "is not sha256:<hex>"},
		{"bad request digest", "sha256:xyz", nil, "is not sha256:<hex>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ev.Envelopes(context.Background(), tt.digest)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); len(tt.want) > 0 && diff != "" {
				t.Errorf("envelopes (-want +got):\n%s", diff)
			}
			if len(tt.want) == 0 && len(got) != 0 {
				t.Errorf("digests = %v, want none", got)
			}
		})
	}
	if gotAuth != "Bearer s3cret" {
		t.Errorf("Authorization = %q", gotAuth)
	}
	for _, bad := range []string{"", "ftp://x", "127.0.0.1:8080", "http://"} {
		if _, err := gate.NewLedgerEvidence(bad); err == nil {
			t.Errorf("NewLedgerEvidence(%q) accepted", bad)
		}
	}
}

package httpsec_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/custody-dev/custody/pkg/httpsec"
)

func ExampleHarden() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/artifacts/{digest}", func(w http.ResponseWriter, r *http.Request) {
		httpsec.WriteError(w, r, fmt.Errorf("%w: nothing is recorded about %s", httpsec.ErrNotFound, r.PathValue("digest")))
	})
	h, err := httpsec.Harden(slog.New(slog.DiscardHandler), mux, httpsec.WithBodyLimit(64<<10))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v1/artifacts/sha256:abc")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	var e httpsec.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	fmt.Println(e.Error)
	fmt.Println(e.RequestID == resp.Header.Get("X-Request-Id"), len(e.RequestID))
	// Output:
	// 404 default-src 'none'; frame-ancestors 'none'
	// not found: nothing is recorded about sha256:abc
	// true 26
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestLifecycleExitCodes(t *testing.T) {
	bad := errors.New("bad")
	tests := []struct {
		name        string
		validateErr error
		runErr      error
		wantCode    int
		wantRun     bool
		wantMsg     string
	}{
		{"ok", nil, nil, 0, true, ""},
		{"config error", bad, nil, ExitConfigError, false, "invalid configuration"},
		{"run error", nil, bad, ExitRunError, true, "svc stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			ran := false
			code := lifecycle(context.Background(), newLogger(&buf, "svc"), "svc",
				func() error { return tt.validateErr },
				func(context.Context, *slog.Logger) error { ran = true; return tt.runErr })
			if code != tt.wantCode || ran != tt.wantRun {
				t.Errorf("code %d, ran %v; want %d, %v", code, ran, tt.wantCode, tt.wantRun)
			}
			if tt.wantMsg == "" {
				if buf.Len() != 0 {
					t.Errorf("logged %s", buf.String())
				}
				return
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			if rec["msg"] != tt.wantMsg || rec["error"] != "bad" || rec["level"] != "ERROR" {
				t.Errorf("log record = %v", rec)
			}
		})
	}
}

func TestLoggerAddsServiceAndTrace(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "scanner")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	})
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log %q is not JSON: %v", buf.String(), err)
	}
	want := map[string]string{"msg": "hello", "service": "scanner", "trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %s", k, rec[k], v)
		}
	}
}

func TestHTTPServerHasTimeouts(t *testing.T) {
	srv := HTTPServer("127.0.0.1:0", http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("server without limits: %+v", srv)
	}
	if srv.Addr != "127.0.0.1:0" || srv.Handler == nil || srv.ErrorLog == nil {
		t.Errorf("server = %+v", srv)
	}
}

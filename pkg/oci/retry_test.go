package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestRetryable(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &url.Error{Op: "Get", URL: "http://r/v2/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}}
	}
	status := func(code int, diag ...transport.ErrorCode) error {
		e := &transport.Error{StatusCode: code}
		for _, d := range diag {
			e.Errors = append(e.Errors, transport.Diagnostic{Code: d})
		}
		return fmt.Errorf("write manifest: %w", e)
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", opErr(syscall.ECONNREFUSED), true},
		{"connection reset", opErr(syscall.ECONNRESET), true},
		{"broken pipe", opErr(syscall.EPIPE), true},
		{"closed before the answer", &url.Error{Op: "Put", URL: "http://r/", Err: io.EOF}, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"i/o timeout", &url.Error{Op: "Get", URL: "http://r/", Err: &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}}, true},
		{"temporary DNS failure", &net.DNSError{Err: "server misbehaving", Name: "r", IsTemporary: true}, true},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "r", IsNotFound: true}, false},
		{"408", status(http.StatusRequestTimeout), true},
		{"429", status(http.StatusTooManyRequests, transport.TooManyRequestsErrorCode), true},
		{"500", status(http.StatusInternalServerError), true},
		{"502", status(http.StatusBadGateway), true},
		{"503 with a denial in the body", status(http.StatusServiceUnavailable, transport.DeniedErrorCode), true},
		{"504", status(http.StatusGatewayTimeout), true},
		{"501", status(http.StatusNotImplemented), false},
		{"401", status(http.StatusUnauthorized, transport.UnauthorizedErrorCode), false},
		{"404", status(http.StatusNotFound, transport.ManifestUnknownErrorCode), false},
		{"400 invalid manifest", status(http.StatusBadRequest, transport.ManifestInvalidErrorCode), false},
		{"caller cancelled", fmt.Errorf("get: %w", context.Canceled), false},
		{"caller deadline", &url.Error{Op: "Get", URL: "http://r/", Err: context.DeadlineExceeded}, false},
		{"other", errors.New("manifest digest does not match requested digest"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.want {
				t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// waits are the pauses go-containerregistry takes between the tries b allows, without jitter.
func waits(b Backoff) (tries int, out []time.Duration) {
	rb := b.remote()
	rb.Jitter = 0
	tries = rb.Steps
	for i := 1; i < tries; i++ {
		out = append(out, rb.Step())
	}
	return tries, out
}

func TestBackoffBounds(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name      string
		b         Backoff
		wantTries int
		wantFirst time.Duration
		wantMax   time.Duration
	}{
		{"zero value tries once", Backoff{}, 1, 0, 0},
		{"doubling", Backoff{Attempts: 4, Initial: 10 * ms, Max: time.Second}, 4, 10 * ms, 40 * ms},
		{"capped by Max", Backoff{Attempts: 6, Initial: 100 * ms, Max: 400 * ms}, 6, 100 * ms, 400 * ms},
		{"too many attempts", Backoff{Attempts: 1000, Initial: ms, Max: 2 * ms}, MaxRetryAttempts, ms, 2 * ms},
		{"no Max means MaxRetryDelay", Backoff{Attempts: 10, Initial: 30 * time.Second}, 10, 30 * time.Second, MaxRetryDelay},
		{"Initial above Max", Backoff{Attempts: 3, Initial: time.Hour, Max: time.Second}, 3, time.Second, time.Second},
		{"negative", Backoff{Attempts: -1, Initial: -ms, Jitter: -1}, 1, 0, 0},
		{"default", DefaultBackoff, 5, 500 * ms, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries, ws := waits(tc.b)
			if tries != tc.wantTries {
				t.Fatalf("tries = %d, want %d", tries, tc.wantTries)
			}
			if len(ws) == 0 {
				return
			}
			if ws[0] != tc.wantFirst {
				t.Errorf("first wait = %v, want %v", ws[0], tc.wantFirst)
			}
			longest := ws[len(ws)-1]
			// Rounding in the growth factor may leave the longest wait a hair short.
			if longest > tc.wantMax || longest < tc.wantMax-tc.wantMax/100 {
				t.Errorf("longest wait = %v (all %v), want %v", longest, ws, tc.wantMax)
			}
			for i := 1; i < len(ws); i++ {
				if ws[i] < ws[i-1] {
					t.Errorf("waits shrink: %v", ws)
				}
			}
		})
	}
	if j := (Backoff{Attempts: 2, Jitter: 5}).remote().Jitter; j != 1 {
		t.Errorf("jitter 5 brought to %v, want 1", j)
	}
}

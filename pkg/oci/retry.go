package oci

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Backoff says how often, and how patiently, a request to a registry is tried again
// after a transient failure: a 408, 429, 500, 502, 503 or 504 answer, or a network error
// such as a refused or reset connection or a timeout. Waits grow exponentially from
// Initial (doubling, or less where that would pass Max) and each gets up to Jitter
// times itself added at random, so that clients do not retry in step.
//
// The zero Backoff tries once and never retries.
type Backoff struct {
	// Attempts is the number of tries of one request, the first included. It is
	// brought into 1..MaxRetryAttempts.
	Attempts int
	// Initial is the wait before the second try.
	Initial time.Duration
	// Max bounds each wait before jitter: zero or more than MaxRetryDelay means
	// MaxRetryDelay. An Initial above Max is lowered to Max.
	Max time.Duration
	// Jitter is the largest random fraction added to a wait, in 0..1.
	Jitter float64
}

// Bounds that RetryOptions holds any Backoff to.
const (
	// MaxRetryAttempts bounds Backoff.Attempts.
	MaxRetryAttempts = 10
	// MaxRetryDelay bounds one wait between tries (before jitter).
	MaxRetryDelay = time.Minute
)

// DefaultBackoff is what Copy and Tag use when the caller passes no retry options:
// five tries, waiting about 0.5s, 1s, 2s and 4s (plus up to half as much again) in
// between, so about 11s at most on one request that keeps failing.
var DefaultBackoff = Backoff{Attempts: 5, Initial: 500 * time.Millisecond, Max: 4 * time.Second, Jitter: 0.5}

// retryStatusCodes are the registry answers worth asking again: the registry timed out,
// is rate limiting (429), or failed in a way a later request may not.
var retryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// RetryOptions returns the go-containerregistry options that retry each registry
// request as b says (remote.WithRetryBackoff, remote.WithRetryStatusCodes and
// remote.WithRetryPredicate). Pass them to Copy, Tag, Attach, ReadAttachments or any
// remote call; options after them override them.
//
// go-containerregistry applies them per HTTP request (reads and blob probes) and per
// write step (a blob upload or a manifest PUT, started over from scratch), so a
// request that fails at most Attempts-1 times in a row still succeeds. It waits
// without watching the context: a cancelled context ends the retries at the next try,
// after at most one wait. It does not honour Retry-After headers; the waits are b's.
func RetryOptions(b Backoff) []remote.Option {
	return []remote.Option{
		remote.WithRetryBackoff(b.remote()),
		remote.WithRetryStatusCodes(retryStatusCodes...),
		remote.WithRetryPredicate(retryable),
	}
}

// remote converts b, brought into bounds, to go-containerregistry's Backoff. Its Cap
// field is left unset: go-containerregistry stops retrying once the cap is reached,
// so b.Max is kept by lowering the growth factor instead.
func (b Backoff) remote() remote.Backoff {
	attempts := min(max(b.Attempts, 1), MaxRetryAttempts)
	maxWait := b.Max
	if maxWait <= 0 || maxWait > MaxRetryDelay {
		maxWait = MaxRetryDelay
	}
	initial := min(max(b.Initial, 0), maxWait)
	jitter := min(max(b.Jitter, 0), 1)
	if math.IsNaN(b.Jitter) {
		jitter = 0
	}
	factor := 2.0
	// The longest wait is initial * factor^(attempts-2).
	if n := attempts - 2; n > 0 && initial > 0 && float64(initial)*math.Pow(factor, float64(n)) > float64(maxWait) {
		factor = math.Pow(float64(maxWait)/float64(initial), 1/float64(n))
	}
	return remote.Backoff{Duration: initial, Factor: factor, Jitter: jitter, Steps: attempts}
}

// retryable reports whether err is a transient failure worth another try: a registry
// answer in retryStatusCodes (or one go-containerregistry classifies as temporary,
// such as TOOMANYREQUESTS or UNAVAILABLE), or a network error (refused, reset or
// aborted connection, a broken pipe, a connection closed before the answer, a
// timeout). The caller's context ending is not.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return slices.Contains(retryStatusCodes, terr.StatusCode) || terr.Temporary()
	}
	for _, target := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		io.ErrUnexpectedEOF, io.EOF, net.ErrClosed,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsTemporary
}

// clientOptions puts the default retry policy first (so that the caller's options
// override it) and ctx last (so that it overrides any remote.WithContext).
func clientOptions(ctx context.Context, opts []remote.Option) []remote.Option {
	out := append(RetryOptions(DefaultBackoff), opts...)
	return append(out, remote.WithContext(ctx))
}

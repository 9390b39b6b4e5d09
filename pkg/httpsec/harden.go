package httpsec

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Option configures Harden.
type Option func(*hardenOptions) error

type hardenOptions struct {
	profile   Profile
	bodyLimit int64
}

// WithProfile chooses the security-header profile (default API).
func WithProfile(p Profile) Option {
	return func(o *hardenOptions) error {
		if p != API && p != Pages {
			return fmt.Errorf("unknown header profile %d: use httpsec.API or httpsec.Pages", int(p))
		}
		o.profile = p
		return nil
	}
}

// WithBodyLimit sets the request body limit (default DefaultBodyLimit). Set it to the
// largest body any route accepts; routes bound themselves further with MaxBody.
func WithBodyLimit(n int64) Option {
	return func(o *hardenOptions) error {
		if n <= 0 {
			return fmt.Errorf("body limit %d: must be positive", n)
		}
		o.bodyLimit = n
		return nil
	}
}

// Harden wraps next in what every Custody HTTP handler needs, outermost first:
// RequestID, SecurityHeaders, Recover (logging to log) and MaxBody. Put authentication
// (auth.Guard.Middleware) inside it, so that its refusals carry the request id and the
// headers too.
func Harden(log *slog.Logger, next http.Handler, opts ...Option) (http.Handler, error) {
	if log == nil {
		return nil, errors.New("harden: logger is nil")
	}
	if next == nil {
		return nil, errors.New("harden: handler is nil")
	}
	o := hardenOptions{profile: API, bodyLimit: DefaultBodyLimit}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("harden: %w", err)
		}
	}
	h := MaxBody(o.bodyLimit, next)
	h = Recover(log, h)
	h = SecurityHeaders(o.profile, h)
	return RequestID(h), nil
}

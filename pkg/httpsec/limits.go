package httpsec

import (
	"fmt"
	"net/http"
)

// DefaultBodyLimit is Harden's request body limit unless WithBodyLimit says otherwise.
const DefaultBodyLimit = 1 << 20

// MaxBody returns middleware that bounds the request body to limit bytes: a declared
// Content-Length above it is refused with 413 before the handler runs, and a body that
// turns out longer fails the handler's read with *http.MaxBytesError (StatusFor maps it
// to 413) and closes the connection. Put a smaller MaxBody on a route to bound it
// further; an inner limit cannot raise an outer one. A limit below zero is taken as
// zero: no body at all.
func MaxBody(limit int64, next http.Handler) http.Handler {
	limit = max(limit, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			WriteError(w, r, fmt.Errorf("%w: at most %d bytes are accepted", ErrTooLarge, limit))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

package httpsec

import (
	"context"
	"crypto/rand"
	"net/http"
)

// HeaderRequestID is the response header that carries the request id.
const HeaderRequestID = "X-Request-Id"

type requestIDKey struct{}

// NewRequestID returns a fresh request id: 26 characters of base32 (128 random bits).
func NewRequestID() string { return rand.Text() }

// ContextWithRequestID returns ctx carrying the request id id, for transports that do
// not go through RequestID (a Connect interceptor, a test).
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id RequestID put on ctx, or "" when there is none.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// RequestID gives every request a fresh id, puts it on the request's context and in the
// X-Request-Id response header. An X-Request-Id the client sent is ignored: the id
// correlates the server's own logs (the audit log among them), so a caller must not be
// able to choose it, reuse another request's id or smuggle text into the logs with it.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := NewRequestID()
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(ContextWithRequestID(r.Context(), id)))
	})
}

package httpsec

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// errPanic is what a recovered panic is answered with: a 500 and its generic text.
var errPanic = errors.New("handler panicked")

// Recover returns middleware that turns a panic in next into a 500 answer carrying the
// request id, and logs the panic with its stack, the method, the path and the request
// id: never the request's body, query or headers, which may hold credentials. If next
// had already started its answer, the connection is aborted instead so that the client
// cannot mistake a truncated answer for a whole one. http.ErrAbortHandler passes through.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saved := w.Header().Clone()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if log != nil {
				log.ErrorContext(r.Context(), "panic serving request",
					"request_id", RequestIDFrom(r.Context()), "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
			if rec.wrote {
				panic(http.ErrAbortHandler)
			}
			// Drop whatever the handler set (Content-Disposition, ETag, ...) and keep
			// the headers the outer middleware set.
			h := w.Header()
			clear(h)
			for k, vs := range saved {
				h[k] = vs
			}
			WriteErrorStatus(w, r, http.StatusInternalServerError, errPanic)
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder notes whether the answer has started.
type recorder struct {
	http.ResponseWriter
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if code >= 200 {
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush keeps streaming answers streaming.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		r.wrote = true
		f.Flush()
	}
}

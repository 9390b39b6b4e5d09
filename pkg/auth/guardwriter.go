package auth

import (
	"fmt"
	"net/http"

	"github.com/custody-dev/custody/pkg/httpsec"
)

// errNoDecision answers a handler that wrote without an authorization decision.
var errNoDecision = fmt.Errorf("%w: this route has no authorization rule", ErrForbidden)

// guardedWriter lets a handler's answer through only once Require or Check has decided
// on the request; otherwise the first write is replaced by a 403 and the rest dropped.
type guardedWriter struct {
	http.ResponseWriter
	r       *http.Request
	g       *Guard
	st      *requestState
	p       Principal
	checked bool
	blocked bool
}

// check reports whether the handler may write, answering 403 the first time it may not.
func (w *guardedWriter) check() bool {
	if w.checked {
		return !w.blocked
	}
	w.checked = true
	if w.st.decided.Load() {
		return true
	}
	w.blocked = true
	w.g.record(w.r, "authorize", w.p, "", nil, Decision{Principal: w.p.ID, Code: ReasonNoDecision,
		Reason: "the handler answered without Require or Check; its answer was replaced by 403"})
	h := w.ResponseWriter.Header()
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Disposition", "Content-Encoding", "Etag", "Last-Modified", "Location"} {
		h.Del(k)
	}
	httpsec.WriteError(w.ResponseWriter, w.r, errNoDecision)
	return false
}

func (w *guardedWriter) WriteHeader(code int) {
	if w.check() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *guardedWriter) Write(b []byte) (int, error) {
	if !w.check() {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming answers streaming once they are allowed.
func (w *guardedWriter) Flush() {
	if w.check() {
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

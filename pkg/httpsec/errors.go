package httpsec

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Sentinel errors every Custody HTTP server shares. Wrap one with %w to give an answer
// its status: fmt.Errorf("%w: digest must be sha256:<64 hex>", httpsec.ErrBadRequest).
// For a 4xx the whole error text is the answer's message, so wrap only text that is safe
// to show the caller (never a token, a file path or a database error).
//
// ErrUnauthenticated, ErrForbidden and ErrRateLimited are also exported by package auth
// (as the same values), which produces them.
var (
	ErrBadRequest           = errors.New("bad request")
	ErrUnauthenticated      = errors.New("authentication required")
	ErrForbidden            = errors.New("forbidden")
	ErrNotFound             = errors.New("not found")
	ErrMethodNotAllowed     = errors.New("method not allowed")
	ErrTooLarge             = errors.New("request body too large")
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	ErrRateLimited          = errors.New("too many requests")
	ErrUnavailable          = errors.New("service unavailable")
)

// StatusFor maps an error to its HTTP status: the one function that does so for the
// errors of this package and of package auth. An error it does not know is a 500.
func StatusFor(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrTooLarge), errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	// Error is a generic text for a 5xx and the error's own (safe) text for a 4xx.
	Error string `json:"error"`
	// RequestID is the id the server logged the request under (see RequestIDFrom).
	RequestID string `json:"requestId"`
}

// maxMessage bounds the message of a 4xx answer.
const maxMessage = 1024

// WriteError answers err with the status StatusFor gives it and returns that status, so
// the caller can log a 5xx with its details (the answer carries none of them).
func WriteError(w http.ResponseWriter, r *http.Request, err error) int {
	status := StatusFor(err)
	WriteErrorStatus(w, r, status, err)
	return status
}

// WriteErrorStatus answers err with the given status, for servers that map their own
// domain errors to statuses. A 5xx answers only the status's generic text; a 4xx answers
// the error's text, on one line and at most 1 KiB.
func WriteErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	msg := http.StatusText(status)
	if status >= 400 && status < 500 && err != nil {
		msg = oneLine(err.Error())
	}
	if msg == "" {
		msg = "error"
	}
	body := ErrorBody{Error: msg, RequestID: RequestIDFrom(r.Context())}
	WriteJSON(w, status, body)
}

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"Internal Server Error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxMessage {
		s = strings.ToValidUTF8(s[:maxMessage], "") + "…"
	}
	return s
}

package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/buildevent"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/httpsec"
)

// Errors the handlers map to HTTP answers in httpStatus.
var (
	errNotFound         = errors.New("no such endpoint")
	errMethod           = errors.New("method not allowed; use POST")
	errMediaType        = errors.New("content type must be application/json")
	errTooLarge         = fmt.Errorf("request body larger than %d bytes", buildevent.MaxSize)
	errBusUnavailable   = errors.New("could not store the event; retry later")
	errRequestIDFailure = errors.New("could not generate a request id")
)

// BuildAccepted is the answer to an accepted build event.
type BuildAccepted struct {
	// ID is the event's ce-id.
	ID     string `json:"id"`
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Duplicate is true when the stream already held this event (the same content was
	// posted recently); it was not published again.
	Duplicate bool `json:"duplicate"`
}

// PromotionAccepted is the answer to an accepted promotion request.
type PromotionAccepted struct {
	RequestID   string `json:"requestId"`
	Image       string `json:"image"`
	Digest      string `json:"digest"`
	Destination string `json:"destination"`
	// ResolvedFrom is the tag the request named, resolved once to Digest.
	ResolvedFrom string `json:"resolvedFrom,omitempty"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
	// RequestID names the request in the server's logs, when the server assigned one.
	RequestID string `json:"requestId,omitempty"`
	// Field names the offending JSON field, when one is to blame.
	Field string `json:"field,omitempty"`
}

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathBuildEvents, s.postOnly(s.handleBuild))
	mux.HandleFunc(PathPromotions, s.postOnly(s.handlePromotion))
	mux.HandleFunc(PathAttestations, s.postLimited(MaxAttestationRequestSize, errImportTooLarge, s.handleAttestation))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, errNotFound) })
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		next.ServeHTTP(w, r)
	})
}

// postOnly checks the method and content type and reads the bounded body.
func (s *Service) postOnly(h func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return s.postLimited(buildevent.MaxSize, errTooLarge, h)
}

// postLimited is postOnly for a body of at most limit bytes; a larger one is tooLarge.
func (s *Service) postLimited(limit int64, tooLarge error, h func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			s.writeError(w, r, errMethod)
			return
		}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			s.writeError(w, r, errMediaType)
			return
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			s.writeError(w, r, errMediaType)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = tooLarge
			} else {
				err = &buildevent.FieldError{Field: "body", Problem: "could not be read: " + err.Error()}
			}
			s.writeError(w, r, err)
			return
		}
		h(w, r, body)
	}
}

func (s *Service) handleBuild(w http.ResponseWriter, r *http.Request, body []byte) {
	build, err := buildevent.Parse(body, buildevent.WithClock(s.now))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.authorize(r, build.GetImage()); err != nil {
		s.writeError(w, r, err)
		return
	}
	pub, err := s.bus.Publish(r.Context(), events.Event{Type: events.TypeBuildCompleted, Subject: build.GetDigest(), Data: build})
	if err != nil {
		s.log.ErrorContext(r.Context(), "publish build event failed", "digest", build.GetDigest(), "error", err)
		s.writeError(w, r, errBusUnavailable)
		return
	}
	s.log.InfoContext(r.Context(), "build event accepted", "event", pub.ID, "image", build.GetImage(),
		"digest", build.GetDigest(), "duplicate", pub.Duplicate)
	writeJSON(w, http.StatusAccepted, BuildAccepted{ID: pub.ID, Image: build.GetImage(), Digest: build.GetDigest(), Duplicate: pub.Duplicate})
}

func (s *Service) handlePromotion(w http.ResponseWriter, r *http.Request, body []byte) {
	req, resolvedFrom, err := parsePromotion(r.Context(), body, s.resolve)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.authorize(r, req.GetImage(), req.GetDestination()); err != nil {
		s.writeError(w, r, err)
		return
	}
	req.RequestedBy = requester(r, req.GetRequestedBy())
	id, err := newRequestID()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req.RequestId = id
	pub, err := s.bus.Publish(r.Context(), events.Event{Type: events.TypePromotionRequested, Subject: req.GetDigest(), Data: req})
	if err != nil {
		s.log.ErrorContext(r.Context(), "publish promotion request failed", "digest", req.GetDigest(), "error", err)
		s.writeError(w, r, errBusUnavailable)
		return
	}
	s.log.InfoContext(r.Context(), "promotion requested", "request", id, "event", pub.ID, "image", req.GetImage(),
		"destination", req.GetDestination(), "requested_by", req.GetRequestedBy(), "resolved_from", resolvedFrom)
	writeJSON(w, http.StatusAccepted, PromotionAccepted{
		RequestID: id, Image: req.GetImage(), Digest: req.GetDigest(), Destination: req.GetDestination(),
		ResolvedFrom: resolvedFrom,
	})
}

func newRequestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("%w: %w", errRequestIDFailure, err)
	}
	return hex.EncodeToString(b[:]), nil
}

// httpStatus maps every error the handlers produce to its HTTP status; it is the one
// place that does so.
func httpStatus(err error) int {
	var fe *buildevent.FieldError
	var re *rejectedError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest
	case errors.As(err, &re):
		return http.StatusUnprocessableEntity
	case errors.Is(err, errTooLarge), errors.Is(err, buildevent.ErrTooLarge), errors.Is(err, errImportTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errImportDisabled):
		return http.StatusNotImplemented
	case errors.Is(err, errBlobUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errBusUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, auth.ErrRateLimited):
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = s.decideBeforeAnswering(r, err)
	status := httpStatus(err)
	resp := ErrorResponse{Error: strings.ReplaceAll(err.Error(), "\n", "; ")}
	var fe *buildevent.FieldError
	var re *rejectedError
	if errors.As(err, &fe) {
		resp.Field = fe.Field
	} else if errors.As(err, &re) {
		resp.Field = re.field
	}
	resp.RequestID = httpsec.RequestIDFrom(r.Context())
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "request_id", resp.RequestID, "error", err)
		resp.Error = "internal error"
	} else {
		s.log.InfoContext(r.Context(), "request refused", "path", r.URL.Path, "status", status, "error", resp.Error)
	}
	writeJSON(w, status, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

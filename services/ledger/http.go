package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/ledger"
)

// API paths (net/http patterns).
const (
	PatternProvenance = "GET /v1/artifacts/{digest}/provenance"
	PatternPromotion  = "GET /v1/promotions/{id}"
	PatternHealth     = "GET /healthz"
)

// Patterns lists every route the ledger's Handler serves, for servers (such as custody
// dev) that mount it beside other services' handlers.
func Patterns() []string {
	return []string{PatternProvenance, PatternBundle, PatternPromotion, PatternHealth,
		PatternLogCheckpoint, PatternLogKey, PatternLogEntries, PatternLogInclusion, PatternLogConsistency,
		PatternVulnDB, PatternVulnDBRecords, PatternVulnDBQuery,
		PatternArtifacts, PatternPackages, PatternDecisions, PatternAffected}
}

// errUnavailable marks a database that does not answer.
var errUnavailable = errors.New("ledger database unavailable")

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PatternProvenance, s.getProvenance)
	mux.HandleFunc(PatternBundle, s.getBundle)
	mux.HandleFunc(PatternPromotion, s.getPromotion)
	mux.HandleFunc(PatternHealth, s.health)
	s.logRoutes(mux)
	s.vulnRoutes(mux)
	s.auditRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Tell a wrong method from a wrong path, in JSON like every other answer.
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		if _, pattern := mux.Handler(get); pattern != "/" && r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET, HEAD")
			s.writeError(w, r, fmt.Errorf("%w: %s", errMethod, r.Method))
			return
		}
		s.writeError(w, r, fmt.Errorf("%w: %s", errNoRoute, r.URL.Path))
	})
	return securityHeaders(mux)
}

var (
	errNoRoute = errors.New("no such endpoint")
	errMethod  = errors.New("method not allowed")
)

// securityHeaders sets the headers every answer of a JSON API should carry.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// statusFor maps an error to its HTTP status: the one place that does.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ledger.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ledger.ErrNotFound), errors.Is(err, errNoRoute):
		return http.StatusNotFound
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499 // the client went away; nobody reads this
	}
	return http.StatusInternalServerError
}

// writeError answers {"error": "..."}. Client errors say what was wrong; server errors
// are logged in full and answered without internals.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusFor(err)
	msg := err.Error()
	if status >= 500 {
		s.log.Error("ledger API request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
		msg = http.StatusText(status)
		if status == http.StatusServiceUnavailable {
			msg = "the ledger database is not answering; try again shortly"
		}
	}
	writeJSON(w, status, errorJSON{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (s *Service) getProvenance(w http.ResponseWriter, r *http.Request) {
	digest := r.PathValue("digest")
	if err := ledger.CheckDigest("artifact digest", digest); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	p, err := s.store.Provenance(ctx, digest)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		s.writeError(w, r, fmt.Errorf("nothing is recorded about artifact %s: %w", digest, ledger.ErrNotFound))
		return
	case err != nil:
		s.writeError(w, r, fmt.Errorf("provenance %s: %w", digest, err))
		return
	}
	doc := provenanceDoc(p)
	// Decisions' log positions are found by the key they were appended under.
	for i, d := range p.Decisions {
		e, err := s.store.LogEntryByKey(ctx, bundle.KindDecision, d.EventID)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			// Recorded before the log existed.
		case err != nil:
			s.writeError(w, r, fmt.Errorf("provenance %s: decision %s log entry: %w", digest, d.RequestID, err))
			return
		default:
			doc.Decisions[i].LogIndex = e.Index
		}
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Service) getPromotion(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > 512 {
		s.writeError(w, r, fmt.Errorf("%w: promotion request id must be 1-512 bytes", ledger.ErrInvalid))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	st, err := s.store.PromotionStatus(ctx, id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		s.writeError(w, r, fmt.Errorf("no promotion request %q is recorded (yet): %w", id, ledger.ErrNotFound))
		return
	case err != nil:
		s.writeError(w, r, fmt.Errorf("promotion %s: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, promotionStatusDoc(st))
}

func (s *Service) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %w", errUnavailable, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

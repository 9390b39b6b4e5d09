package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/httpsec"
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
	return []string{PatternProvenance, PatternBundle, PatternPromotion, PatternHealth, PatternAudit,
		PatternLogCheckpoint, PatternLogKey, PatternLogEntries, PatternLogInclusion, PatternLogConsistency,
		PatternVulnDB, PatternVulnDBRecords, PatternVulnDBQuery,
		PatternArtifacts, PatternPackages, PatternDecisions, PatternAffected}
}

// Protocols returns what a server of Handler should speak: HTTP/1.1, and HTTP/2 both
// over TLS and in cleartext (h2c with prior knowledge), which gRPC clients of the audit
// API need when the server has no TLS.
func Protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return p
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
	mux.Handle(s.auditHandler())
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
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, auth.ErrRateLimited):
		return http.StatusTooManyRequests
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
	action := auth.ActionRead
	if strings.HasPrefix(r.URL.Path, "/v1/promotions/") {
		action = auth.ActionReadPromotion
	}
	err = s.decideBeforeAnswering(r.Context(), action, err)
	status := statusFor(err)
	msg := err.Error()
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "ledger API request failed", "method", r.Method, "path", r.URL.Path, "status", status,
			"request_id", httpsec.RequestIDFrom(r.Context()), "error", err)
		msg = http.StatusText(status)
		if status == http.StatusServiceUnavailable {
			msg = "the ledger database is not answering; try again shortly"
		}
	}
	writeJSON(w, status, errorJSON{Error: msg, RequestID: httpsec.RequestIDFrom(r.Context())})
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
	p, decisionLog, err := s.provenance(ctx, digest)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	doc := provenanceDoc(p)
	for i := range doc.Decisions {
		doc.Decisions[i].LogIndex = decisionLog[i]
	}
	writeJSON(w, http.StatusOK, doc)
}

// provenance returns everything recorded about digest and the log index of each of its
// decisions (-1 for one recorded before the log existed), for both APIs.
func (s *Service) provenance(ctx context.Context, digest string) (*ledger.Provenance, []int64, error) {
	p, err := s.store.Provenance(ctx, digest)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return nil, nil, fmt.Errorf("nothing is recorded about artifact %s: %w", digest, ledger.ErrNotFound)
	case err != nil:
		return nil, nil, fmt.Errorf("provenance %s: %w", digest, err)
	}
	if err := s.authorizeArtifact(ctx, p); err != nil {
		return nil, nil, err
	}
	logIndex := make([]int64, len(p.Decisions))
	for i, d := range p.Decisions {
		if logIndex[i], err = s.decisionLogIndex(ctx, d); err != nil {
			return nil, nil, fmt.Errorf("provenance %s: %w", digest, err)
		}
	}
	return p, logIndex, nil
}

// decisionLogIndex finds a decision's position in the log by the key it was appended
// under; -1 when it has none (recorded before the log existed).
func (s *Service) decisionLogIndex(ctx context.Context, d ledger.Decision) (int64, error) {
	e, err := s.store.LogEntryByKey(ctx, bundle.KindDecision, d.EventID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return -1, nil
	case err != nil:
		return 0, fmt.Errorf("decision %s log entry: %w", d.RequestID, err)
	}
	return e.Index, nil
}

func (s *Service) getPromotion(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := checkRequestID("promotion request id", id); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	st, err := s.promotionStatus(ctx, id, auth.ActionReadPromotion)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, promotionStatusDoc(st))
}

// promotionStatus returns a promotion request and its latest decision, for both APIs.
func (s *Service) promotionStatus(ctx context.Context, id string, action auth.Action) (*ledger.PromotionState, error) {
	st, err := s.store.PromotionStatus(ctx, id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return nil, fmt.Errorf("no promotion request %q is recorded (yet): %w", id, ledger.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("promotion %s: %w", id, err)
	}
	if err := s.authorizePromotion(ctx, action, st); err != nil {
		return nil, err
	}
	return st, nil
}

// checkRequestID refuses a promotion request id that no request can have.
func checkRequestID(what, id string) error {
	if id == "" || len(id) > 512 {
		return fmt.Errorf("%w: %s must be 1-512 bytes", ledger.ErrInvalid, what)
	}
	return nil
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

package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

// The auditors' query routes.
const (
	PatternArtifacts = "GET /v1/artifacts"
	PatternPackages  = "GET /v1/artifacts/{digest}/packages"
	PatternDecisions = "GET /v1/decisions"
	PatternAffected  = "GET /v1/affected"
)

// maxQueryString bounds the query string of an auditor's query.
const maxQueryString = 8 << 10

func (s *Service) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc(PatternArtifacts, s.getArtifacts)
	mux.HandleFunc(PatternPackages, s.getPackages)
	mux.HandleFunc(PatternDecisions, s.getDecisions)
	mux.HandleFunc(PatternAffected, s.getAffected)
}

// queryParams reads a GET request's query parameters strictly: only the known ones, each
// at most once (but repository, which may repeat), so that a misspelt filter is an error
// rather than silently ignored. Every error wraps ErrInvalid and names the parameter.
type queryParams struct {
	values url.Values
	errs   []error
}

func newQueryParams(r *http.Request, known ...string) (*queryParams, error) {
	if len(r.URL.RawQuery) > maxQueryString {
		return nil, fmt.Errorf("%w: the query string is longer than %d bytes", ledger.ErrInvalid, maxQueryString)
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: the query string does not parse: %w", ledger.ErrInvalid, err)
	}
	known = append(known, "repository", "limit", "cursor")
	for name, vs := range values {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%w: unknown parameter %q: use %s", ledger.ErrInvalid, clip(name), strings.Join(known, ", "))
		}
		if len(vs) > 1 && name != "repository" {
			return nil, fmt.Errorf("%w: parameter %s is given %d times: give it once", ledger.ErrInvalid, name, len(vs))
		}
	}
	return &queryParams{values: values}, nil
}

func (p *queryParams) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("parameter %s: %s", name, fmt.Sprintf(format, args...)))
}

func (p *queryParams) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ledger.ErrInvalid, errors.Join(p.errs...))
}

// str returns a text parameter, or "" when absent.
func (p *queryParams) str(name string) string {
	v := p.values.Get(name)
	if !recordable(v) || len(v) > ledger.MaxText {
		p.fail(name, "is not text of at most %d bytes", ledger.MaxText)
		return ""
	}
	return v
}

func (p *queryParams) digest(name string) string {
	v := p.str(name)
	if v != "" && !ledger.ValidDigest(v) {
		p.fail(name, "%q is not sha256:<64 lowercase hex>", clip(v))
	}
	return v
}

func (p *queryParams) prefix(name string) string {
	v := p.str(name)
	if v != "" {
		if err := ledger.CheckRepositoryPrefix(v); err != nil {
			p.fail(name, "%s", strings.TrimPrefix(err.Error(), ledger.ErrInvalid.Error()+": "))
		}
	}
	return v
}

func (p *queryParams) time(name string) time.Time {
	v := p.str(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.fail(name, "%q is not an RFC 3339 time (2026-03-01T12:00:00Z)", clip(v))
	}
	return t
}

func (p *queryParams) boolean(name string) bool {
	switch v := p.str(name); v {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	default:
		p.fail(name, "%q: use true or false", clip(v))
		return false
	}
}

func (p *queryParams) limit(max int) int {
	v := p.str("limit")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		p.fail("limit", "%q: use 1-%d", clip(v), max)
		return 0
	}
	return n
}

func (p *queryParams) cursor() string {
	v := p.str("cursor")
	if len(v) > ledger.MaxCursor {
		p.fail("cursor", "is longer than %d bytes: start again without a cursor", ledger.MaxCursor)
	}
	return v
}

// scope is the scope a query runs in: the repositories the repository parameters name,
// or, without them, what the caller may see (callerScope). The caller must be allowed to
// read under every prefix named (authorizeScope).
func (p *queryParams) scope(ctx context.Context) ledger.Scope {
	prefixes := p.values["repository"]
	if len(prefixes) == 0 {
		return callerScope(ctx)
	}
	if len(prefixes) > ledger.MaxScopePrefixes {
		p.fail("repository", "given %d times, at most %d", len(prefixes), ledger.MaxScopePrefixes)
	}
	for _, v := range prefixes {
		if err := ledger.CheckRepositoryPrefix(v); err != nil {
			p.fail("repository", "%s", strings.TrimPrefix(err.Error(), ledger.ErrInvalid.Error()+": "))
		}
	}
	return ledger.RepositoryScope(prefixes...)
}

// getArtifacts answers GET /v1/artifacts: ledger.ListArtifacts.
func (s *Service) getArtifacts(w http.ResponseWriter, r *http.Request) {
	p, err := newQueryParams(r, "sourceRepository", "commit", "builder", "since", "until", "destination", "status")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := ledger.ListArtifactsRequest{
		SourceRepository: p.str("sourceRepository"), Commit: p.str("commit"), BuilderID: p.str("builder"),
		Since: p.time("since"), Until: p.time("until"), Destination: p.prefix("destination"),
		Scope: p.scope(r.Context()), Limit: p.limit(ledger.MaxListLimit), Cursor: p.cursor(),
	}
	if st := p.str("status"); st != "" {
		if req.Status, err = ledger.ParseArtifactStatus(st); err != nil {
			p.fail("status", "%q: use promoted, pending, denied, failed or allowed", clip(st))
		}
	}
	if err := p.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.authorizeScope(r.Context(), req.Scope); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	resp, err := s.store.ListArtifacts(ctx, req)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list artifacts: %w", err))
		return
	}
	doc := ArtifactListJSON{Artifacts: []ArtifactSummaryJSON{}, NextCursor: resp.NextCursor}
	for _, a := range resp.Artifacts {
		doc.Artifacts = append(doc.Artifacts, artifactSummaryDoc(a))
	}
	writeJSON(w, http.StatusOK, doc)
}

// getDecisions answers GET /v1/decisions: ledger.ListDecisions.
func (s *Service) getDecisions(w http.ResponseWriter, r *http.Request) {
	p, err := newQueryParams(r, "digest", "destination", "verdict", "policyDigest", "since", "until")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := ledger.ListDecisionsRequest{
		Digest: p.digest("digest"), Destination: p.prefix("destination"), PolicyDigest: p.digest("policyDigest"),
		Since: p.time("since"), Until: p.time("until"), Scope: p.scope(r.Context()), Limit: p.limit(ledger.MaxListLimit), Cursor: p.cursor(),
	}
	switch v := ledger.Verdict(p.str("verdict")); v {
	case "", ledger.Allowed, ledger.Denied:
		req.Verdict = v
	default:
		p.fail("verdict", "%q: use allowed or denied", clip(string(v)))
	}
	if err := p.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.authorizeScope(r.Context(), req.Scope); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	resp, err := s.store.ListDecisions(ctx, req)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list decisions: %w", err))
		return
	}
	doc := DecisionListJSON{Decisions: []DecisionRecordJSON{}, NextCursor: resp.NextCursor}
	for _, d := range resp.Decisions {
		doc.Decisions = append(doc.Decisions, decisionRecordDoc(d))
	}
	writeJSON(w, http.StatusOK, doc)
}

// getAffected answers GET /v1/affected: Affected, by ?vuln=, ?purl= or
// ?ecosystem=&name=&range=.
func (s *Service) getAffected(w http.ResponseWriter, r *http.Request) {
	p, err := newQueryParams(r, "vuln", "purl", "ecosystem", "name", "range", "promoted")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := AffectedRequest{
		VulnID: p.str("vuln"), PURL: p.str("purl"), Ecosystem: p.str("ecosystem"), Name: p.str("name"), Range: p.str("range"),
		PromotedOnly: p.boolean("promoted"), Scope: p.scope(r.Context()), Limit: p.limit(MaxAffectedLimit), Cursor: p.cursor(),
	}
	if err := p.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.authorizeScope(r.Context(), req.Scope); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	resp, err := Affected(ctx, s.store, req)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("affected: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, affectedDoc(resp))
}

// getPackages answers GET /v1/artifacts/{digest}/packages: ledger.PackagesFor.
func (s *Service) getPackages(w http.ResponseWriter, r *http.Request) {
	digest := r.PathValue("digest")
	if err := ledger.CheckDigest("artifact digest", digest); err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.URL.RawQuery != "" {
		s.writeError(w, r, fmt.Errorf("%w: this endpoint takes no parameters", ledger.ErrInvalid))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	if s.authz != nil {
		if _, _, err := s.provenance(ctx, digest); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	inv, err := s.store.PackagesFor(ctx, digest)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("packages of %s: %w", digest, err))
		return
	}
	writeJSON(w, http.StatusOK, inventoryDoc(inv))
}

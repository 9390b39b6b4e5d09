package ledger

import (
	"context"
	"fmt"
	"time"
)

// Bounds on the auditors' listings.
const (
	// DefaultListLimit is the page size of ListArtifacts and ListDecisions when the
	// request names none.
	DefaultListLimit = 50
	// MaxListLimit bounds the page size of ListArtifacts and ListDecisions.
	MaxListLimit = 500
	// MaxSummaryDigests bounds the digests of one ArtifactSummaries call.
	MaxSummaryDigests = 500
)

// Cursor kinds: what listing a cursor belongs to.
const (
	CursorArtifacts = "artifacts"
	CursorDecisions = "decisions"
	CursorPackages  = "packages"
)

// AuditStore answers the auditors' listings. Every listing is ordered newest first with
// a stable tie-break, paginated with cursors (see Position), and limited by a Scope.
type AuditStore interface {
	// ListArtifacts lists artifacts (digests with a recorded build) matching the
	// filters, newest build first.
	ListArtifacts(ctx context.Context, req ListArtifactsRequest) (ListArtifactsResponse, error)
	// ArtifactSummaries summarises each of the named digests the ledger holds any record
	// of (a build, attestation, scan, decision, promotion or package inventory) and the
	// scope allows, in the order asked; others are left out.
	ArtifactSummaries(ctx context.Context, req ArtifactSummariesRequest) (ArtifactSummariesResponse, error)
	// ListDecisions lists gate decisions matching the filters, newest first.
	ListDecisions(ctx context.Context, req ListDecisionsRequest) (ListDecisionsResponse, error)
}

// ArtifactStatus is where an artifact stands on its way to production. Every artifact
// has exactly one, decided in this order:
//
//   - promoted: at least one promotion of it completed (to any destination);
//   - pending: otherwise, when no gate decision about it is recorded;
//   - denied: otherwise, when its latest decision (by decision time) denied it;
//   - failed: otherwise (its latest decision allowed it), when the promotion that
//     decision allowed failed;
//   - allowed: otherwise; the allowed promotion has not completed (yet).
type ArtifactStatus string

// Artifact statuses.
const (
	StatusPromoted ArtifactStatus = "promoted"
	StatusPending  ArtifactStatus = "pending"
	StatusDenied   ArtifactStatus = "denied"
	StatusFailed   ArtifactStatus = "failed"
	StatusAllowed  ArtifactStatus = "allowed"
)

// ParseArtifactStatus returns the status s names, or an ErrInvalid error.
func ParseArtifactStatus(s string) (ArtifactStatus, error) {
	switch st := ArtifactStatus(s); st {
	case StatusPromoted, StatusPending, StatusDenied, StatusFailed, StatusAllowed:
		return st, nil
	}
	return "", fmt.Errorf("%w: status %q: use promoted, pending, denied, failed or allowed", ErrInvalid, truncate(s))
}

// ArtifactSummary is what an auditor's listing says about one artifact.
type ArtifactSummary struct {
	Digest string
	// Image is the artifact's image (see Provenance.Image); empty when none is recorded.
	Image string
	// SourceRepository, Commit and BuilderID come from the first recorded build; empty
	// when there is none.
	SourceRepository string
	Commit           string
	BuilderID        string
	// BuiltAt is when the first build finished (else started); zero when unknown.
	BuiltAt time.Time
	// RecordedAt is when the ledger recorded the first build; without a build, its
	// earliest record of the artifact (scan, attestation, decision or inventory).
	RecordedAt time.Time
	// PredicateTypes are the predicate types of the verified attestations, sorted.
	PredicateTypes []string
	// ScanStatus is the latest scan's status; empty when it was never scanned.
	ScanStatus ScanStatus
	// Verdict is the latest gate decision's; empty when none is recorded.
	Verdict Verdict
	Status  ArtifactStatus
	// DestinationImages are where completed promotions put it (the destination image,
	// else the destination), sorted.
	DestinationImages []string
}

// ListArtifactsRequest filters and pages ListArtifacts. Empty filters match everything.
type ListArtifactsRequest struct {
	// SourceRepository, Commit and BuilderID match the first build's exactly.
	SourceRepository string
	Commit           string
	BuilderID        string
	// Since (inclusive) and Until (exclusive) bound the build time: when the first build
	// finished, else started, else when the ledger recorded it.
	Since, Until time.Time
	// Destination keeps artifacts with a completed promotion whose destination (or
	// destination image) lies under this repository prefix (see UnderRepository).
	Destination string
	// Status keeps artifacts with this status; empty keeps every status.
	Status ArtifactStatus
	Scope  Scope
	// Limit is the page size: default DefaultListLimit, at most MaxListLimit.
	Limit int
	// Cursor continues from a previous response's NextCursor, with the same filters.
	Cursor string
}

// ListArtifactsResponse is one page of artifacts, newest build first (ties by digest,
// descending).
type ListArtifactsResponse struct {
	Artifacts []ArtifactSummary
	// NextCursor continues the listing; empty on the last page.
	NextCursor string
}

// ArtifactSummariesRequest names the digests to summarise.
type ArtifactSummariesRequest struct {
	Digests []string
	Scope   Scope
}

// ArtifactSummariesResponse holds the summaries, in the order the digests were named.
type ArtifactSummariesResponse struct {
	Artifacts []ArtifactSummary
}

// ListDecisionsRequest filters and pages ListDecisions. Empty filters match everything.
type ListDecisionsRequest struct {
	// Digest keeps decisions about this artifact.
	Digest string
	// Destination keeps decisions whose destination lies under this repository prefix.
	Destination string
	// Verdict keeps decisions with this verdict.
	Verdict Verdict
	// PolicyDigest keeps decisions made under this policy.
	PolicyDigest string
	// Since (inclusive) and Until (exclusive) bound the decision time.
	Since, Until time.Time
	// Scope limits decisions to artifacts it allows; a decision about an artifact the
	// ledger knows no image of is judged by the decision's own image.
	Scope  Scope
	Limit  int
	Cursor string
}

// ListDecisionsResponse is one page of decisions, newest decision time first (ties by
// event id, descending).
type ListDecisionsResponse struct {
	Decisions  []Decision
	NextCursor string
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r ListArtifactsRequest) Validate() error {
	var v validator
	v.text("source repository", r.SourceRepository, MaxText)
	v.text("commit", r.Commit, MaxText)
	v.text("builder id", r.BuilderID, MaxText)
	v.timeWindow(r.Since, r.Until)
	v.optPrefix("destination", r.Destination)
	if r.Status != "" {
		if _, err := ParseArtifactStatus(string(r.Status)); err != nil {
			v.fail("status %q: use promoted, pending, denied, failed or allowed", truncate(string(r.Status)))
		}
	}
	v.scope(r.Scope)
	v.limit(r.Limit, MaxListLimit)
	if err := v.err(); err != nil {
		return err
	}
	_, err := r.After()
	return err
}

// PageSize returns the page size the request asks for.
func (r ListArtifactsRequest) PageSize() int { return pageSize(r.Limit, DefaultListLimit) }

func (r ListArtifactsRequest) fingerprint() []byte {
	return Fingerprint(r.SourceRepository, r.Commit, r.BuilderID, timeFingerprint(r.Since), timeFingerprint(r.Until),
		r.Destination, string(r.Status), r.Scope.fingerprint())
}

// After returns the position the request's cursor continues from; nil without a cursor.
func (r ListArtifactsRequest) After() (*Position, error) {
	return decodeTimeKeyed(CursorArtifacts, r.fingerprint(), r.Cursor, ValidDigest)
}

// CursorAfter returns the cursor that continues this listing after p.
func (r ListArtifactsRequest) CursorAfter(p Position) string {
	return EncodeCursor(CursorArtifacts, r.fingerprint(), p)
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r ArtifactSummariesRequest) Validate() error {
	var v validator
	if len(r.Digests) > MaxSummaryDigests {
		v.fail("%d digests, more than %d in one call", len(r.Digests), MaxSummaryDigests)
	} else {
		for _, d := range r.Digests {
			v.digest("artifact digest", d)
		}
	}
	v.scope(r.Scope)
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r ListDecisionsRequest) Validate() error {
	var v validator
	v.optDigest("digest", r.Digest)
	v.optPrefix("destination", r.Destination)
	if r.Verdict != "" && r.Verdict != Allowed && r.Verdict != Denied {
		v.fail("verdict %q: use allowed or denied", truncate(string(r.Verdict)))
	}
	v.optDigest("policy digest", r.PolicyDigest)
	v.timeWindow(r.Since, r.Until)
	v.scope(r.Scope)
	v.limit(r.Limit, MaxListLimit)
	if err := v.err(); err != nil {
		return err
	}
	_, err := r.After()
	return err
}

// PageSize returns the page size the request asks for.
func (r ListDecisionsRequest) PageSize() int { return pageSize(r.Limit, DefaultListLimit) }

func (r ListDecisionsRequest) fingerprint() []byte {
	return Fingerprint(r.Digest, r.Destination, string(r.Verdict), r.PolicyDigest, timeFingerprint(r.Since),
		timeFingerprint(r.Until), r.Scope.fingerprint())
}

// After returns the position the request's cursor continues from; nil without a cursor.
func (r ListDecisionsRequest) After() (*Position, error) {
	return decodeTimeKeyed(CursorDecisions, r.fingerprint(), r.Cursor, func(k string) bool {
		var v validator
		v.text("", k, 512)
		return k != "" && len(v.errs) == 0
	})
}

// CursorAfter returns the cursor that continues this listing after p.
func (r ListDecisionsRequest) CursorAfter(p Position) string {
	return EncodeCursor(CursorDecisions, r.fingerprint(), p)
}

// decodeTimeKeyed decodes the cursor of a listing ordered by (time, key).
func decodeTimeKeyed(kind string, fingerprint []byte, cursor string, validKey func(string) bool) (*Position, error) {
	if cursor == "" {
		return nil, nil
	}
	p, err := DecodeCursor(kind, fingerprint, cursor)
	if err != nil {
		return nil, err
	}
	if p.Time.IsZero() || p.Seq != 0 || !validKey(p.Key) {
		return nil, fmt.Errorf("%w: cursor holds an impossible position: start again without a cursor", ErrInvalid)
	}
	var v validator
	v.timeRange("cursor time", p.Time)
	if err := v.err(); err != nil {
		return nil, err
	}
	return &p, nil
}

func pageSize(limit, def int) int {
	if limit == 0 {
		return def
	}
	return limit
}

func (v *validator) limit(n, max int) {
	if n < 0 || n > max {
		v.fail("limit %d: use 1-%d (0 for the default)", n, max)
	}
}

func (v *validator) timeWindow(since, until time.Time) {
	v.timeRange("since", since)
	v.timeRange("until", until)
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		v.fail("since %s is not before until %s", since.UTC().Format(time.RFC3339Nano), until.UTC().Format(time.RFC3339Nano))
	}
}

func (v *validator) optPrefix(what, p string) {
	if p == "" {
		return
	}
	if why := repositoryPrefixProblem(p); why != "" {
		v.fail("%s: repository prefix %q %s", what, truncate(p), why)
	}
}

package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
)

// buildTimeSQL is an artifact's build time: its first build's finish, else start, else
// recording time. The expression is the one the builds_by_time index is on.
const buildTimeSQL = `COALESCE(b.finished_at, b.started_at, b.recorded_at)`

// ListArtifacts lists artifacts newest build first. The query walks builds_by_time
// backwards from the cursor and keeps each digest's first recorded build, so a page
// costs the rows it reads (plus those the filters reject), not a scan of the table.
func (s *Store) ListArtifacts(ctx context.Context, req ledger.ListArtifactsRequest) (ledger.ListArtifactsResponse, error) {
	resp := ledger.ListArtifactsResponse{Artifacts: []ledger.ArtifactSummary{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	query, args := listArtifactsQuery(req)
	limit := req.PageSize()
	type row struct {
		digest string
		t      time.Time
	}
	var page []row
	more := false
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		page, more = nil, false
		if err := queryRows(ctx, tx, query, args, func(rs pgx.Rows) error {
			var r row
			if err := rs.Scan(&r.digest, &r.t); err != nil {
				return err
			}
			page = append(page, r)
			return nil
		}); err != nil {
			return err
		}
		if more = len(page) > limit; more {
			page = page[:limit]
		}
		digests := make([]string, len(page))
		for i, r := range page {
			digests[i] = r.digest
		}
		var err error
		resp.Artifacts, err = summaries(ctx, tx, digests, ledger.AllRepositories())
		return err
	})
	if err != nil {
		return ledger.ListArtifactsResponse{Artifacts: []ledger.ArtifactSummary{}}, fmt.Errorf("postgres: list artifacts: %w", err)
	}
	if more && len(page) > 0 {
		last := page[len(page)-1]
		resp.NextCursor = req.CursorAfter(ledger.Position{Time: last.t.UTC(), Key: last.digest})
	}
	return resp, nil
}

// listArtifactsQuery builds ListArtifacts' query for a valid request; it asks for one
// row more than a page, to know whether another page follows.
func listArtifactsQuery(req ledger.ListArtifactsRequest) (string, []any) {
	after, _ := req.After()
	var q builder
	q.and(`NOT EXISTS (SELECT 1 FROM builds f WHERE f.digest = b.digest
		AND (f.recorded_at < b.recorded_at OR (f.recorded_at = b.recorded_at AND f.seq < b.seq)))`)
	if req.SourceRepository != "" {
		q.and("b.source_repository = " + q.arg(req.SourceRepository, "text"))
	}
	if req.Commit != "" {
		q.and("b.commit_id = " + q.arg(req.Commit, "text"))
	}
	if req.BuilderID != "" {
		q.and("b.builder_id = " + q.arg(req.BuilderID, "text"))
	}
	if !req.Since.IsZero() {
		q.and(buildTimeSQL + " >= " + q.arg(req.Since, "timestamptz"))
	}
	if !req.Until.IsZero() {
		q.and(buildTimeSQL + " < " + q.arg(req.Until, "timestamptz"))
	}
	if req.Destination != "" {
		p := q.arg(req.Destination, "text")
		q.and(`EXISTS (SELECT 1 FROM promotions dp WHERE dp.digest = b.digest AND dp.status = 'completed'
			AND (` + underSQL("dp.destination_image", p) + " OR " + underSQL("dp.destination", p) + "))")
	}
	if req.Status != "" {
		q.and(statusSQL("b.digest") + " = " + q.arg(string(req.Status), "text"))
	}
	// The row is the first build: its own image comes first, as in imageSQL.
	q.scope(req.Scope, "COALESCE(NULLIF(b.image, ''), "+imageSQL("b.digest")+")")
	if after != nil {
		t, d := q.arg(after.Time, "timestamptz"), q.arg(after.Key, "text")
		q.and(fmt.Sprintf(`%[1]s <= %[2]s AND (%[1]s < %[2]s OR b.digest COLLATE "C" < %[3]s)`, buildTimeSQL, t, d))
	}
	return "SELECT b.digest, " + buildTimeSQL + " FROM builds b" + q.where() +
		" ORDER BY " + buildTimeSQL + ` DESC, b.digest COLLATE "C" DESC LIMIT ` + q.arg(req.PageSize()+1, "bigint"), q.args
}

// ArtifactSummaries summarises the named digests the ledger knows, in the order asked.
func (s *Store) ArtifactSummaries(ctx context.Context, req ledger.ArtifactSummariesRequest) (ledger.ArtifactSummariesResponse, error) {
	resp := ledger.ArtifactSummariesResponse{Artifacts: []ledger.ArtifactSummary{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		var err error
		resp.Artifacts, err = summaries(ctx, tx, req.Digests, req.Scope)
		return err
	})
	if err != nil {
		return ledger.ArtifactSummariesResponse{Artifacts: []ledger.ArtifactSummary{}}, fmt.Errorf("postgres: artifact summaries: %w", err)
	}
	return resp, nil
}

// summaries summarises the known digests among digests that the scope allows, in order.
func summaries(ctx context.Context, q querier, digests []string, scope ledger.Scope) ([]ledger.ArtifactSummary, error) {
	out := []ledger.ArtifactSummary{}
	digests = uniq(digests)
	if len(digests) == 0 {
		return out, nil
	}
	var b builder
	dl := b.arg(digests, "text[]")
	b.and(`(EXISTS (SELECT 1 FROM builds WHERE digest = j.value) OR EXISTS (SELECT 1 FROM scans WHERE digest = j.value)
		OR EXISTS (SELECT 1 FROM attestations WHERE subject_digest = j.value) OR EXISTS (SELECT 1 FROM decisions WHERE digest = j.value)
		OR EXISTS (SELECT 1 FROM promotions WHERE digest = j.value) OR EXISTS (SELECT 1 FROM artifact_inventories WHERE digest = j.value))`)
	b.scope(scope, imageSQL("j.value"))
	query := `SELECT j.value, ` + imageSQL("j.value") + `, ` + statusSQL("j.value") + `,
		COALESCE((SELECT verdict FROM decisions WHERE digest = j.value ORDER BY decided_at DESC, event_id COLLATE "C" DESC LIMIT 1), ''),
		COALESCE((SELECT status FROM scans WHERE digest = j.value ORDER BY scanned_at DESC NULLS LAST, event_id COLLATE "C" DESC LIMIT 1), ''),
		LEAST((SELECT MIN(recorded_at) FROM scans WHERE digest = j.value),
			(SELECT MIN(recorded_at) FROM attestations WHERE subject_digest = j.value),
			(SELECT MIN(recorded_at) FROM decisions WHERE digest = j.value),
			(SELECT MIN(recorded_at) FROM artifact_inventories WHERE digest = j.value))
		FROM unnest(` + dl + `) WITH ORDINALITY AS j (value, ord)` + b.where() + ` ORDER BY j.ord`
	index := map[string]int{}
	if err := queryRows(ctx, q, query, b.args, func(rs pgx.Rows) error {
		var a ledger.ArtifactSummary
		var status, verdict, scan string
		var recorded *time.Time
		if err := rs.Scan(&a.Digest, &a.Image, &status, &verdict, &scan, &recorded); err != nil {
			return err
		}
		a.Status, a.Verdict, a.ScanStatus = ledger.ArtifactStatus(status), ledger.Verdict(verdict), ledger.ScanStatus(scan)
		a.RecordedAt = fromNull(recorded)
		a.PredicateTypes, a.DestinationImages = []string{}, []string{}
		index[a.Digest] = len(out)
		out = append(out, a)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	// The first build of each (rows come in recording order), for its fields and its
	// recording time.
	built := map[string]bool{}
	if err := queryRows(ctx, q, `SELECT digest, source_repository, commit_id, builder_id, started_at, finished_at, recorded_at
		FROM builds WHERE digest = ANY($1::text[]) ORDER BY digest, recorded_at, seq`, []any{digests},
		func(rs pgx.Rows) error {
			var d, repo, commit, builder string
			var started, finished *time.Time
			var recorded time.Time
			if err := rs.Scan(&d, &repo, &commit, &builder, &started, &finished, &recorded); err != nil {
				return err
			}
			i, ok := index[d]
			if !ok || built[d] {
				return nil
			}
			built[d] = true
			a := &out[i]
			a.SourceRepository, a.Commit, a.BuilderID = repo, commit, builder
			a.BuiltAt = fromNull(finished)
			if a.BuiltAt.IsZero() {
				a.BuiltAt = fromNull(started)
			}
			a.RecordedAt = recorded.UTC()
			return nil
		}); err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, `SELECT DISTINCT subject_digest, predicate_type FROM attestations
		WHERE subject_digest = ANY($1::text[])`, []any{digests}, func(rs pgx.Rows) error {
		var d, pt string
		if err := rs.Scan(&d, &pt); err != nil {
			return err
		}
		if i, ok := index[d]; ok {
			out[i].PredicateTypes = append(out[i].PredicateTypes, pt)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, `SELECT digest, destination_image, destination FROM promotions
		WHERE digest = ANY($1::text[]) AND status = 'completed'`, []any{digests}, func(rs pgx.Rows) error {
		var d, img, dest string
		if err := rs.Scan(&d, &img, &dest); err != nil {
			return err
		}
		if i, ok := index[d]; ok {
			if img == "" {
				img = dest
			}
			out[i].DestinationImages = append(out[i].DestinationImages, img)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].PredicateTypes = sortedSet(out[i].PredicateTypes)
		out[i].DestinationImages = sortedSet(out[i].DestinationImages)
	}
	return out, nil
}

// ListDecisions lists gate decisions newest first, walking decisions_by_time backwards
// (or decisions_by_digest / decisions_by_policy when those filters are given).
func (s *Store) ListDecisions(ctx context.Context, req ledger.ListDecisionsRequest) (ledger.ListDecisionsResponse, error) {
	resp := ledger.ListDecisionsResponse{Decisions: []ledger.Decision{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	after, _ := req.After()
	var q builder
	if req.Digest != "" {
		q.and("digest = " + q.arg(req.Digest, "text"))
	}
	if req.Destination != "" {
		q.and(underSQL("destination", q.arg(req.Destination, "text")))
	}
	if req.Verdict != "" {
		q.and("verdict = " + q.arg(string(req.Verdict), "text"))
	}
	if req.PolicyDigest != "" {
		q.and("policy_digest = " + q.arg(req.PolicyDigest, "text"))
	}
	if !req.Since.IsZero() {
		q.and("decided_at >= " + q.arg(req.Since, "timestamptz"))
	}
	if !req.Until.IsZero() {
		q.and("decided_at < " + q.arg(req.Until, "timestamptz"))
	}
	q.scope(req.Scope, "COALESCE(NULLIF("+imageSQL("decisions.digest")+", ''), decisions.image)")
	if after != nil {
		t, k := q.arg(after.Time, "timestamptz"), q.arg(after.Key, "text")
		q.and(fmt.Sprintf(`decided_at <= %[1]s AND (decided_at < %[1]s OR event_id COLLATE "C" < %[2]s)`, t, k))
	}
	limit := req.PageSize()
	ds, err := queryDecisions(ctx, s.pool, decisionColumns+q.where()+
		` ORDER BY decided_at DESC, event_id COLLATE "C" DESC LIMIT `+q.arg(limit+1, "bigint"), q.args...)
	if err != nil {
		return resp, fmt.Errorf("postgres: list decisions: %w", err)
	}
	if len(ds) > limit {
		ds = ds[:limit]
		last := ds[len(ds)-1]
		resp.NextCursor = req.CursorAfter(ledger.Position{Time: last.DecidedAt, Key: last.EventID})
	}
	resp.Decisions = ds
	return resp, nil
}

// queryRows runs a query and calls fn for each row.
func queryRows(ctx context.Context, q querier, query string, args []any, fn func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func uniq(items []string) []string {
	seen := make(map[string]bool, len(items))
	out := make([]string, 0, len(items))
	for _, s := range items {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// sortedSet sorts in byte order and removes duplicates; never nil.
func sortedSet(items []string) []string {
	if items == nil {
		return []string{}
	}
	slices.SortFunc(items, strings.Compare)
	return slices.Compact(items)
}

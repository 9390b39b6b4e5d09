package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/custody-dev/custody/pkg/ledger"
)

// buildTimeSQL is an artifact's build time: its first build's finish, else start, else
// recording time. The expression is the one the builds_by_time index is on.
const buildTimeSQL = `(CASE WHEN b.finished_ns <> 0 THEN b.finished_ns WHEN b.started_ns <> 0 THEN b.started_ns ELSE b.recorded_ns END)`

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
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return resp, fmt.Errorf("sqlite: list artifacts: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	type row struct {
		digest string
		t      int64
	}
	var page []row
	if err := queryRows(ctx, tx, query, args, func(rs *sql.Rows) error {
		var r row
		if err := rs.Scan(&r.digest, &r.t); err != nil {
			return err
		}
		page = append(page, r)
		return nil
	}); err != nil {
		return resp, fmt.Errorf("sqlite: list artifacts: %w", err)
	}
	more := len(page) > limit
	if more {
		page = page[:limit]
	}
	digests := make([]string, len(page))
	for i, r := range page {
		digests[i] = r.digest
	}
	sums, err := s.summaries(ctx, tx, digests, ledger.AllRepositories())
	if err != nil {
		return resp, fmt.Errorf("sqlite: list artifacts: %w", err)
	}
	resp.Artifacts = sums
	if more && len(page) > 0 {
		last := page[len(page)-1]
		resp.NextCursor = req.CursorAfter(ledger.Position{Time: fromNS(last.t), Key: last.digest})
	}
	return resp, nil
}

// listArtifactsQuery builds ListArtifacts' query for a valid request; it asks for one
// row more than a page, to know whether another page follows.
func listArtifactsQuery(req ledger.ListArtifactsRequest) (string, []any) {
	after, _ := req.After()
	var q builder
	q.and(`NOT EXISTS (SELECT 1 FROM builds f WHERE f.digest = b.digest
		AND (f.recorded_ns < b.recorded_ns OR (f.recorded_ns = b.recorded_ns AND f.event_id < b.event_id)))`)
	if req.SourceRepository != "" {
		q.and("b.source_repository = " + q.arg(req.SourceRepository))
	}
	if req.Commit != "" {
		q.and("b.commit_id = " + q.arg(req.Commit))
	}
	if req.BuilderID != "" {
		q.and("b.builder_id = " + q.arg(req.BuilderID))
	}
	if !req.Since.IsZero() {
		q.and(buildTimeSQL + " >= " + q.arg(req.Since.UnixNano()))
	}
	if !req.Until.IsZero() {
		q.and(buildTimeSQL + " < " + q.arg(req.Until.UnixNano()))
	}
	if req.Destination != "" {
		p := q.arg(req.Destination)
		q.and(`EXISTS (SELECT 1 FROM promotions dp WHERE dp.digest = b.digest AND dp.status = 'completed'
			AND (` + underSQL("dp.destination_image", p) + " OR " + underSQL("dp.destination", p) + "))")
	}
	if req.Status != "" {
		q.and(statusSQL("b.digest") + " = " + q.arg(string(req.Status)))
	}
	// The row is the first build: its own image comes first, as in imageSQL.
	q.scope(req.Scope, "COALESCE(NULLIF(b.image, ''), "+imageSQL("b.digest")+")")
	if after != nil {
		t, d := q.arg(after.Time.UnixNano()), q.arg(after.Key)
		q.and(fmt.Sprintf("%[1]s <= %[2]s AND (%[1]s < %[2]s OR b.digest < %[3]s)", buildTimeSQL, t, d))
	}
	return "SELECT b.digest, " + buildTimeSQL + " FROM builds b" + q.where() +
		" ORDER BY " + buildTimeSQL + " DESC, b.digest DESC LIMIT " + q.arg(req.PageSize()+1), q.args
}

// ArtifactSummaries summarises the named digests the ledger knows, in the order asked.
func (s *Store) ArtifactSummaries(ctx context.Context, req ledger.ArtifactSummariesRequest) (ledger.ArtifactSummariesResponse, error) {
	resp := ledger.ArtifactSummariesResponse{Artifacts: []ledger.ArtifactSummary{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return resp, fmt.Errorf("sqlite: artifact summaries: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	sums, err := s.summaries(ctx, tx, req.Digests, req.Scope)
	if err != nil {
		return resp, fmt.Errorf("sqlite: artifact summaries: %w", err)
	}
	resp.Artifacts = sums
	return resp, nil
}

// summaries summarises the known digests among digests that the scope allows, in order.
func (s *Store) summaries(ctx context.Context, q querier, digests []string, scope ledger.Scope) ([]ledger.ArtifactSummary, error) {
	out := []ledger.ArtifactSummary{}
	digests = uniq(digests)
	if len(digests) == 0 {
		return out, nil
	}
	list, err := encodeList(digests)
	if err != nil {
		return nil, err
	}
	var b builder
	dl := b.arg(list)
	b.and(`(EXISTS (SELECT 1 FROM builds WHERE digest = j.value) OR EXISTS (SELECT 1 FROM scans WHERE digest = j.value)
		OR EXISTS (SELECT 1 FROM attestations WHERE subject_digest = j.value) OR EXISTS (SELECT 1 FROM decisions WHERE digest = j.value)
		OR EXISTS (SELECT 1 FROM promotions WHERE digest = j.value) OR EXISTS (SELECT 1 FROM artifact_inventories WHERE digest = j.value))`)
	b.scope(scope, imageSQL("j.value"))
	query := `SELECT j.value, ` + imageSQL("j.value") + `, ` + statusSQL("j.value") + `,
		COALESCE((SELECT verdict FROM decisions WHERE digest = j.value ORDER BY decided_ns DESC, event_id DESC LIMIT 1), ''),
		COALESCE((SELECT status FROM scans WHERE digest = j.value ORDER BY scanned_ns DESC, event_id DESC LIMIT 1), ''),
		COALESCE((SELECT MIN(recorded_ns) FROM scans WHERE digest = j.value), 0),
		COALESCE((SELECT MIN(recorded_ns) FROM attestations WHERE subject_digest = j.value), 0),
		COALESCE((SELECT MIN(recorded_ns) FROM decisions WHERE digest = j.value), 0),
		COALESCE((SELECT MIN(recorded_ns) FROM artifact_inventories WHERE digest = j.value), 0)
		FROM json_each(` + dl + `) j` + b.where() + ` ORDER BY j.key`
	index := map[string]int{}
	if err := queryRows(ctx, q, query, b.args, func(rs *sql.Rows) error {
		var a ledger.ArtifactSummary
		var status, verdict, scan string
		var rec [4]int64
		if err := rs.Scan(&a.Digest, &a.Image, &status, &verdict, &scan, &rec[0], &rec[1], &rec[2], &rec[3]); err != nil {
			return err
		}
		a.Status, a.Verdict, a.ScanStatus = ledger.ArtifactStatus(status), ledger.Verdict(verdict), ledger.ScanStatus(scan)
		a.RecordedAt = fromNS(earliest(rec[:]...))
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
	if err := queryRows(ctx, q, `SELECT digest, source_repository, commit_id, builder_id, started_ns, finished_ns, recorded_ns
		FROM builds WHERE digest IN (SELECT value FROM json_each(?1)) ORDER BY digest, recorded_ns, event_id`, []any{list},
		func(rs *sql.Rows) error {
			var d, repo, commit, builder string
			var started, finished, recorded int64
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
			a.BuiltAt = fromNS(finished)
			if a.BuiltAt.IsZero() {
				a.BuiltAt = fromNS(started)
			}
			a.RecordedAt = fromNS(recorded)
			return nil
		}); err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, `SELECT DISTINCT subject_digest, predicate_type FROM attestations
		WHERE subject_digest IN (SELECT value FROM json_each(?1))`, []any{list}, func(rs *sql.Rows) error {
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
		WHERE digest IN (SELECT value FROM json_each(?1)) AND status = 'completed'`, []any{list}, func(rs *sql.Rows) error {
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
		q.and("digest = " + q.arg(req.Digest))
	}
	if req.Destination != "" {
		q.and(underSQL("destination", q.arg(req.Destination)))
	}
	if req.Verdict != "" {
		q.and("verdict = " + q.arg(string(req.Verdict)))
	}
	if req.PolicyDigest != "" {
		q.and("policy_digest = " + q.arg(req.PolicyDigest))
	}
	if !req.Since.IsZero() {
		q.and("decided_ns >= " + q.arg(req.Since.UnixNano()))
	}
	if !req.Until.IsZero() {
		q.and("decided_ns < " + q.arg(req.Until.UnixNano()))
	}
	q.scope(req.Scope, "COALESCE(NULLIF("+imageSQL("decisions.digest")+", ''), decisions.image)")
	if after != nil {
		t, k := q.arg(after.Time.UnixNano()), q.arg(after.Key)
		q.and(fmt.Sprintf("decided_ns <= %[1]s AND (decided_ns < %[1]s OR event_id < %[2]s)", t, k))
	}
	limit := req.PageSize()
	ds, err := queryDecisions(ctx, s.db, decisionColumns+q.where()+" ORDER BY decided_ns DESC, event_id DESC LIMIT "+q.arg(limit+1), q.args...)
	if err != nil {
		return resp, fmt.Errorf("sqlite: list decisions: %w", err)
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
func queryRows(ctx context.Context, q querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
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

// earliest returns the smallest non-zero value, or 0.
func earliest(ns ...int64) int64 {
	var m int64
	for _, n := range ns {
		if n != 0 && (m == 0 || n < m) {
			m = n
		}
	}
	return m
}

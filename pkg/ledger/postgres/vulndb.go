package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
)

// PutVulnRecords upserts OSV records in one transaction, keeping the newest modified:
// one INSERT ... ON CONFLICT over the whole batch (atomic against concurrent imports of
// the same ids), then the package index of the rows it inserted or replaced.
func (s *Store) PutVulnRecords(ctx context.Context, req ledger.PutVulnRecordsRequest) (ledger.PutVulnRecordsResponse, error) {
	var resp ledger.PutVulnRecordsResponse
	if err := req.Validate(); err != nil {
		return resp, err
	}
	if len(req.Records) == 0 {
		return resp, nil
	}
	ids := make([]string, len(req.Records))
	mods := make([]time.Time, len(req.Records))
	raws := make([][]byte, len(req.Records))
	for i, r := range req.Records {
		ids[i], mods[i], raws[i] = r.ID, micros(r.Modified), r.Raw
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		resp = ledger.PutVulnRecordsResponse{}
		rows, err := tx.Query(ctx, `INSERT INTO vuln_records (id, modified, raw, updated_at)
			SELECT u.id, u.modified, u.raw, $4::timestamptz
			FROM unnest($1::text[], $2::timestamptz[], $3::bytea[]) AS u (id, modified, raw)
			ON CONFLICT (id) DO UPDATE SET modified = EXCLUDED.modified, raw = EXCLUDED.raw, updated_at = EXCLUDED.updated_at
			WHERE vuln_records.modified < EXCLUDED.modified
			RETURNING id, (xmax = 0) AS inserted`, ids, mods, raws, micros(s.now()))
		if err != nil {
			return err
		}
		changed := map[string]bool{}
		var updated []string
		for rows.Next() {
			var id string
			var inserted bool
			if err := rows.Scan(&id, &inserted); err != nil {
				rows.Close()
				return err
			}
			changed[id] = true
			if inserted {
				resp.Inserted++
			} else {
				resp.Updated++
				updated = append(updated, id)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		resp.Unchanged = len(req.Records) - len(changed)
		if len(updated) > 0 {
			if _, err := tx.Exec(ctx, "DELETE FROM vuln_packages WHERE id = ANY($1::text[])", updated); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM vuln_aliases WHERE id = ANY($1::text[])", updated); err != nil {
				return err
			}
		}
		var names, ecos, pids, aliases, aids []string
		for _, r := range req.Records {
			if !changed[r.ID] {
				continue
			}
			for _, p := range r.Packages {
				names, ecos, pids = append(names, p.Name), append(ecos, p.Ecosystem), append(pids, r.ID)
			}
			for _, a := range append([]string{r.ID}, r.Aliases...) {
				aliases, aids = append(aliases, a), append(aids, r.ID)
			}
		}
		if len(aids) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO vuln_aliases (alias, id)
				SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`, aliases, aids); err != nil {
				return err
			}
		}
		if len(pids) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO vuln_packages (name, ecosystem, id)
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`, names, ecos, pids); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ledger.PutVulnRecordsResponse{}, fmt.Errorf("postgres: put %d vuln records: %w", len(req.Records), err)
	}
	return resp, nil
}

// VulnRecords returns the distinct records naming any of the packages, sorted by id, in
// one query over the whole list.
func (s *Store) VulnRecords(ctx context.Context, req ledger.VulnRecordsRequest) (ledger.VulnRecordsResponse, error) {
	resp := ledger.VulnRecordsResponse{Records: []ledger.StoredVulnRecord{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	if len(req.Packages) == 0 {
		return resp, nil
	}
	ecos := make([]string, len(req.Packages))
	names := make([]string, len(req.Packages))
	for i, p := range req.Packages {
		ecos[i], names[i] = p.Ecosystem, p.Name
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.modified, r.raw FROM vuln_records r WHERE r.id IN (
			SELECT p.id FROM unnest($1::text[], $2::text[]) AS q (eco, name)
			JOIN vuln_packages p ON p.name = q.name
				AND (p.ecosystem = q.eco OR left(p.ecosystem, length(q.eco) + 1) = q.eco || ':'))`, ecos, names)
	if err != nil {
		return ledger.VulnRecordsResponse{}, fmt.Errorf("postgres: vuln records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ledger.StoredVulnRecord
		if err := rows.Scan(&r.ID, &r.Modified, &r.Raw); err != nil {
			return ledger.VulnRecordsResponse{}, fmt.Errorf("postgres: vuln records: %w", err)
		}
		r.Modified = r.Modified.UTC()
		resp.Records = append(resp.Records, r)
	}
	if err := rows.Err(); err != nil {
		return ledger.VulnRecordsResponse{}, fmt.Errorf("postgres: vuln records: %w", err)
	}
	// Byte order, whatever the database's collation.
	sort.Slice(resp.Records, func(i, j int) bool { return resp.Records[i].ID < resp.Records[j].ID })
	return resp, nil
}

// VulnRecordsByID returns the distinct records whose id or an alias is one of the ids,
// sorted by id, through the primary key of vuln_aliases (which holds every record's own
// id too).
func (s *Store) VulnRecordsByID(ctx context.Context, req ledger.VulnRecordsByIDRequest) (ledger.VulnRecordsResponse, error) {
	resp := ledger.VulnRecordsResponse{Records: []ledger.StoredVulnRecord{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	if len(req.IDs) == 0 {
		return resp, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.modified, r.raw FROM vuln_records r
		WHERE r.id IN (SELECT a.id FROM vuln_aliases a WHERE a.alias = ANY($1::text[]))`, req.IDs)
	if err != nil {
		return ledger.VulnRecordsResponse{}, fmt.Errorf("postgres: vuln records by id: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ledger.StoredVulnRecord
		if err := rows.Scan(&r.ID, &r.Modified, &r.Raw); err != nil {
			return ledger.VulnRecordsResponse{}, fmt.Errorf("postgres: vuln records by id: %w", err)
		}
		r.Modified = r.Modified.UTC()
		resp.Records = append(resp.Records, r)
	}
	if err := rows.Err(); err != nil {
		return ledger.VulnRecordsResponse{}, fmt.Errorf("postgres: vuln records by id: %w", err)
	}
	sort.Slice(resp.Records, func(i, j int) bool { return resp.Records[i].ID < resp.Records[j].ID })
	return resp, nil
}

// VulnDBState counts the records, overall and per ecosystem.
func (s *Store) VulnDBState(ctx context.Context) (ledger.VulnDBState, error) {
	var st ledger.VulnDBState
	var newest, updated *time.Time
	if err := s.pool.QueryRow(ctx, "SELECT COUNT(*), MAX(modified), MAX(updated_at) FROM vuln_records").
		Scan(&st.Records, &newest, &updated); err != nil {
		return ledger.VulnDBState{}, fmt.Errorf("postgres: vuln db state: %w", err)
	}
	if newest != nil {
		st.NewestModified = newest.UTC()
	}
	if updated != nil {
		st.LastUpdate = updated.UTC()
	}
	rows, err := s.pool.Query(ctx, "SELECT ecosystem, COUNT(DISTINCT id) FROM vuln_packages GROUP BY ecosystem")
	if err != nil {
		return ledger.VulnDBState{}, fmt.Errorf("postgres: vuln db state: %w", err)
	}
	defer rows.Close()
	st.Ecosystems = []ledger.EcosystemCount{}
	for rows.Next() {
		var e ledger.EcosystemCount
		if err := rows.Scan(&e.Ecosystem, &e.Records); err != nil {
			return ledger.VulnDBState{}, fmt.Errorf("postgres: vuln db state: %w", err)
		}
		st.Ecosystems = append(st.Ecosystems, e)
	}
	if err := rows.Err(); err != nil {
		return ledger.VulnDBState{}, fmt.Errorf("postgres: vuln db state: %w", err)
	}
	sort.Slice(st.Ecosystems, func(i, j int) bool { return st.Ecosystems[i].Ecosystem < st.Ecosystems[j].Ecosystem })
	return st, nil
}

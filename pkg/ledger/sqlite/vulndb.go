package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

// PutVulnRecords upserts OSV records in one transaction, keeping the newest modified.
func (s *Store) PutVulnRecords(ctx context.Context, req ledger.PutVulnRecordsRequest) (ledger.PutVulnRecordsResponse, error) {
	var resp ledger.PutVulnRecordsResponse
	if err := req.Validate(); err != nil {
		return resp, err
	}
	if len(req.Records) == 0 {
		return resp, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return resp, fmt.Errorf("sqlite: put vuln records: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now().UnixNano()
	for _, r := range req.Records {
		modified := r.Modified.Truncate(time.Microsecond).UnixNano()
		var old int64
		err := tx.QueryRowContext(ctx, "SELECT modified_ns FROM vuln_records WHERE id = ?", r.ID).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, "INSERT INTO vuln_records (id, modified_ns, raw, updated_ns) VALUES (?, ?, ?, ?)",
				r.ID, modified, r.Raw, now); err != nil {
				return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln record %s: %w", r.ID, err)
			}
			resp.Inserted++
		case err != nil:
			return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln record %s: %w", r.ID, err)
		case modified <= old:
			resp.Unchanged++
			continue
		default:
			if _, err := tx.ExecContext(ctx, "UPDATE vuln_records SET modified_ns = ?, raw = ?, updated_ns = ? WHERE id = ?",
				modified, r.Raw, now, r.ID); err != nil {
				return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln record %s: %w", r.ID, err)
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM vuln_packages WHERE id = ?", r.ID); err != nil {
				return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln record %s: %w", r.ID, err)
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM vuln_aliases WHERE id = ?", r.ID); err != nil {
				return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln record %s: %w", r.ID, err)
			}
			resp.Updated++
		}
		for _, a := range append([]string{r.ID}, r.Aliases...) {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO vuln_aliases (alias, id) VALUES (?, ?)", a, r.ID); err != nil {
				return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln record %s: alias: %w", r.ID, err)
			}
		}
		for _, p := range r.Packages {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO vuln_packages (name, ecosystem, id) VALUES (?, ?, ?)",
				p.Name, p.Ecosystem, r.ID); err != nil {
				return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln record %s: index: %w", r.ID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return ledger.PutVulnRecordsResponse{}, fmt.Errorf("sqlite: put vuln records: commit: %w", err)
	}
	return resp, nil
}

// VulnRecords returns the distinct records naming any of the packages, sorted by id. The
// name is matched through the primary key (name, ecosystem, id); the ecosystem equals or
// extends the one asked for after a ':'.
func (s *Store) VulnRecords(ctx context.Context, req ledger.VulnRecordsRequest) (ledger.VulnRecordsResponse, error) {
	resp := ledger.VulnRecordsResponse{Records: []ledger.StoredVulnRecord{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	if len(req.Packages) == 0 {
		return resp, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return resp, fmt.Errorf("sqlite: vuln records: %w", err)
	}
	defer conn.Close()
	stmt, err := conn.PrepareContext(ctx, `SELECT r.id, r.modified_ns, r.raw FROM vuln_packages p
		JOIN vuln_records r ON r.id = p.id
		WHERE p.name = ? AND (p.ecosystem = ? OR substr(p.ecosystem, 1, length(?) + 1) = ? || ':')`)
	if err != nil {
		return resp, fmt.Errorf("sqlite: vuln records: %w", err)
	}
	defer stmt.Close()
	seen := map[string]bool{}
	for _, p := range req.Packages {
		if err := func() error {
			rows, err := stmt.QueryContext(ctx, p.Name, p.Ecosystem, p.Ecosystem, p.Ecosystem)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var r ledger.StoredVulnRecord
				var ns int64
				if err := rows.Scan(&r.ID, &ns, &r.Raw); err != nil {
					return err
				}
				if seen[r.ID] {
					continue
				}
				seen[r.ID] = true
				r.Modified = fromNS(ns)
				resp.Records = append(resp.Records, r)
			}
			return rows.Err()
		}(); err != nil {
			return ledger.VulnRecordsResponse{}, fmt.Errorf("sqlite: vuln records %s %s: %w", p.Ecosystem, p.Name, err)
		}
	}
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
	ids, err := encodeList(req.IDs)
	if err != nil {
		return resp, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.modified_ns, r.raw FROM vuln_records r
		WHERE r.id IN (SELECT a.id FROM vuln_aliases a WHERE a.alias IN (SELECT value FROM json_each(?)))
		ORDER BY r.id`, ids)
	if err != nil {
		return ledger.VulnRecordsResponse{}, fmt.Errorf("sqlite: vuln records by id: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ledger.StoredVulnRecord
		var ns int64
		if err := rows.Scan(&r.ID, &ns, &r.Raw); err != nil {
			return ledger.VulnRecordsResponse{}, fmt.Errorf("sqlite: vuln records by id: %w", err)
		}
		r.Modified = fromNS(ns)
		resp.Records = append(resp.Records, r)
	}
	if err := rows.Err(); err != nil {
		return ledger.VulnRecordsResponse{}, fmt.Errorf("sqlite: vuln records by id: %w", err)
	}
	return resp, nil
}

// VulnDBState counts the records, overall and per ecosystem.
func (s *Store) VulnDBState(ctx context.Context) (ledger.VulnDBState, error) {
	var st ledger.VulnDBState
	var newest, updated sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*), MAX(modified_ns), MAX(updated_ns) FROM vuln_records").
		Scan(&st.Records, &newest, &updated); err != nil {
		return ledger.VulnDBState{}, fmt.Errorf("sqlite: vuln db state: %w", err)
	}
	st.NewestModified, st.LastUpdate = fromNS(newest.Int64), fromNS(updated.Int64)
	rows, err := s.db.QueryContext(ctx, "SELECT ecosystem, COUNT(DISTINCT id) FROM vuln_packages GROUP BY ecosystem")
	if err != nil {
		return ledger.VulnDBState{}, fmt.Errorf("sqlite: vuln db state: %w", err)
	}
	defer rows.Close()
	st.Ecosystems = []ledger.EcosystemCount{}
	for rows.Next() {
		var e ledger.EcosystemCount
		if err := rows.Scan(&e.Ecosystem, &e.Records); err != nil {
			return ledger.VulnDBState{}, fmt.Errorf("sqlite: vuln db state: %w", err)
		}
		st.Ecosystems = append(st.Ecosystems, e)
	}
	if err := rows.Err(); err != nil {
		return ledger.VulnDBState{}, fmt.Errorf("sqlite: vuln db state: %w", err)
	}
	// Byte order, the same in every database whatever its collation.
	sort.Slice(st.Ecosystems, func(i, j int) bool { return st.Ecosystems[i].Ecosystem < st.Ecosystems[j].Ecosystem })
	return st, nil
}

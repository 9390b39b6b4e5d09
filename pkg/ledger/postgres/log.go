package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/tlog"
)

// AppendLog appends an entry at the next index, idempotently on (kind, key). The
// transaction locks log_entries against other writers (readers go on), so concurrent
// appends are serialised and indexes have no gaps.
func (w writer) AppendLog(ctx context.Context, req ledger.AppendLogRequest) (ledger.AppendLogResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.AppendLogResponse{}, err
	}
	var resp ledger.AppendLogResponse
	err := w.inTx(ctx, func(tx pgx.Tx) error {
		// Held until the transaction ends: inside a batch, once for the whole batch.
		if _, err := tx.Exec(ctx, "LOCK TABLE log_entries IN EXCLUSIVE MODE"); err != nil {
			return err
		}
		var old []byte
		err := tx.QueryRow(ctx, "SELECT idx, entry FROM log_entries WHERE kind = $1 AND key = $2", req.Kind, req.Key).
			Scan(&resp.Index, &old)
		switch {
		case err == nil:
			if !bytes.Equal(old, req.Entry) {
				return fmt.Errorf("%w: log entry %s %s is already recorded with different content",
					ledger.ErrConflict, req.Kind, req.Key)
			}
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries").Scan(&resp.Index); err != nil {
			return err
		}
		resp.Inserted = true
		_, err = tx.Exec(ctx, "INSERT INTO log_entries (idx, kind, key, entry, leaf_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
			resp.Index, req.Kind, req.Key, req.Entry, tlog.LeafHash(req.Entry), micros(w.s.now()))
		return err
	})
	if err != nil {
		if errors.Is(err, ledger.ErrConflict) {
			return ledger.AppendLogResponse{}, err
		}
		return ledger.AppendLogResponse{}, fmt.Errorf("postgres: append log %s %s: %w", req.Kind, req.Key, err)
	}
	return resp, nil
}

// LogSize returns the number of log entries. Indexes run 0, 1, 2... without gaps, so it
// is one past the highest index: a primary-key lookup, not a count of every row.
func (s *Store) LogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries").Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: log size: %w", err)
	}
	return n, nil
}

// LogEntries returns the entries with start <= index < end.
func (s *Store) LogEntries(ctx context.Context, start, end int64) ([]ledger.LogEntry, error) {
	if err := ledger.CheckLogRange(start, end); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT idx, kind, key, entry, leaf_hash, created_at FROM log_entries
		WHERE idx >= $1 AND idx < $2 ORDER BY idx`, start, end)
	if err != nil {
		return nil, fmt.Errorf("postgres: log entries [%d, %d): %w", start, end, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.LogEntry, error) {
		var e ledger.LogEntry
		err := r.Scan(&e.Index, &e.Kind, &e.Key, &e.Entry, &e.LeafHash, &e.CreatedAt)
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: log entries [%d, %d): %w", start, end, err)
	}
	if out == nil {
		out = []ledger.LogEntry{}
	}
	return out, nil
}

// LogLeafHashes returns the leaf hashes of the first size entries.
func (s *Store) LogLeafHashes(ctx context.Context, size int64) ([][]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: log size %d is negative", ledger.ErrInvalid, size)
	}
	rows, err := s.pool.Query(ctx, "SELECT leaf_hash FROM log_entries WHERE idx < $1 ORDER BY idx", size)
	if err != nil {
		return nil, fmt.Errorf("postgres: log leaf hashes: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("postgres: log leaf hashes: %w", err)
	}
	if int64(len(out)) != size {
		return nil, fmt.Errorf("%w: the log has %d entries, fewer than %d", ledger.ErrInvalid, len(out), size)
	}
	return out, nil
}

package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/tlog"
)

// AppendLog appends an entry at the next index, idempotently on (kind, key). Outside a
// batch it runs in a transaction of its own, which takes the write lock at BEGIN
// (_txlock=immediate), so concurrent appends are serialised and indexes have no gaps.
func (w writer) AppendLog(ctx context.Context, req ledger.AppendLogRequest) (ledger.AppendLogResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.AppendLogResponse{}, err
	}
	if w.tx == nil {
		var resp ledger.AppendLogResponse
		err := w.s.inTx(ctx, func(tx writer) (err error) {
			resp, err = tx.AppendLog(ctx, req)
			return err
		})
		if err != nil {
			return ledger.AppendLogResponse{}, err
		}
		return resp, nil
	}
	var idx int64
	var old []byte
	err := w.queryRow(ctx, sqlSelectLogEntry, req.Kind, req.Key).Scan(&idx, &old)
	switch {
	case err == nil:
		if !bytes.Equal(old, req.Entry) {
			return ledger.AppendLogResponse{}, fmt.Errorf("%w: log entry %s %s is already recorded with different content",
				ledger.ErrConflict, req.Kind, req.Key)
		}
		return ledger.AppendLogResponse{Index: idx}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return ledger.AppendLogResponse{}, fmt.Errorf("sqlite: append log %s %s: %w", req.Kind, req.Key, err)
	}
	if err := w.queryRow(ctx, sqlLogSize).Scan(&idx); err != nil {
		return ledger.AppendLogResponse{}, fmt.Errorf("sqlite: append log %s %s: size: %w", req.Kind, req.Key, err)
	}
	if _, err := w.exec(ctx, sqlInsertLogEntry,
		idx, req.Kind, req.Key, req.Entry, tlog.LeafHash(req.Entry), w.s.now().UnixNano()); err != nil {
		return ledger.AppendLogResponse{}, fmt.Errorf("sqlite: append log %s %s: %w", req.Kind, req.Key, err)
	}
	return ledger.AppendLogResponse{Index: idx, Inserted: true}, nil
}

// LogSize returns the number of log entries. Indexes run 0, 1, 2... without gaps, so it
// is one past the highest index: a primary-key lookup, not a count of every row.
func (s *Store) LogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries").Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: log size: %w", err)
	}
	return n, nil
}

// LogEntries returns the entries with start <= index < end.
func (s *Store) LogEntries(ctx context.Context, start, end int64) ([]ledger.LogEntry, error) {
	if err := ledger.CheckLogRange(start, end); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT idx, kind, key, entry, leaf_hash, created_ns FROM log_entries
		WHERE idx >= ? AND idx < ? ORDER BY idx`, start, end)
	if err != nil {
		return nil, fmt.Errorf("sqlite: log entries [%d, %d): %w", start, end, err)
	}
	defer rows.Close()
	out := []ledger.LogEntry{}
	for rows.Next() {
		var e ledger.LogEntry
		var ns int64
		if err := rows.Scan(&e.Index, &e.Kind, &e.Key, &e.Entry, &e.LeafHash, &ns); err != nil {
			return nil, fmt.Errorf("sqlite: log entries: %w", err)
		}
		e.CreatedAt = fromNS(ns)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: log entries: %w", err)
	}
	return out, nil
}

// LogLeafHashes returns the leaf hashes of the first size entries.
func (s *Store) LogLeafHashes(ctx context.Context, size int64) ([][]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: log size %d is negative", ledger.ErrInvalid, size)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT leaf_hash FROM log_entries WHERE idx < ? ORDER BY idx", size)
	if err != nil {
		return nil, fmt.Errorf("sqlite: log leaf hashes: %w", err)
	}
	defer rows.Close()
	out := make([][]byte, 0, min(size, 1<<16))
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("sqlite: log leaf hashes: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: log leaf hashes: %w", err)
	}
	if int64(len(out)) != size {
		return nil, fmt.Errorf("%w: the log has %d entries, fewer than %d", ledger.ErrInvalid, len(out), size)
	}
	return out, nil
}

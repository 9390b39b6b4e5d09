package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
)

// LogEntryByKey returns the log entry appended under (kind, key).
func (s *Store) LogEntryByKey(ctx context.Context, kind, key string) (ledger.LogEntry, error) {
	if err := ledger.CheckLogKey(kind, key); err != nil {
		return ledger.LogEntry{}, err
	}
	var e ledger.LogEntry
	err := s.pool.QueryRow(ctx, `SELECT idx, kind, key, entry, leaf_hash, created_at FROM log_entries
		WHERE kind = $1 AND key = $2`, kind, key).Scan(&e.Index, &e.Kind, &e.Key, &e.Entry, &e.LeafHash, &e.CreatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ledger.LogEntry{}, fmt.Errorf("%w: no log entry %s %s", ledger.ErrNotFound, kind, key)
	case err != nil:
		return ledger.LogEntry{}, fmt.Errorf("postgres: log entry %s %s: %w", kind, key, err)
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custody-dev/custody/pkg/ledger"
)

// LogEntryByKey returns the log entry appended under (kind, key).
func (s *Store) LogEntryByKey(ctx context.Context, kind, key string) (ledger.LogEntry, error) {
	if err := ledger.CheckLogKey(kind, key); err != nil {
		return ledger.LogEntry{}, err
	}
	var e ledger.LogEntry
	var ns int64
	err := writer{s: s}.queryRow(ctx, sqlLogEntryByKey, kind, key).Scan(&e.Index, &e.Kind, &e.Key, &e.Entry, &e.LeafHash, &ns)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ledger.LogEntry{}, fmt.Errorf("%w: no log entry %s %s", ledger.ErrNotFound, kind, key)
	case err != nil:
		return ledger.LogEntry{}, fmt.Errorf("sqlite: log entry %s %s: %w", kind, key, err)
	}
	e.CreatedAt = fromNS(ns)
	return e, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/custody-dev/custody/pkg/ledger"
)

// writer writes through the database, each call a statement or transaction of its
// own (tx nil), or through one transaction (inside WriteBatch and the methods that
// need one). Statements are prepared once per Store and reused.
type writer struct {
	s  *Store
	tx *sql.Tx
}

var _ ledger.Writer = writer{}

// The Store's writes (RecordEvent, PutBuild, PutAttestation, PutScan, PutDecision,
// UpdatePromotion, AppendLog), one transaction each, are its writer's: Store embeds
// writer{s: itself}, set when it opens.

// WriteBatch runs every item's writes in one transaction, each item in a savepoint
// that is rolled back alone when the item fails.
func (s *Store) WriteBatch(ctx context.Context, req ledger.WriteBatchRequest) (ledger.WriteBatchResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.WriteBatchResponse{}, err
	}
	errs := make([]error, req.Items)
	err := s.inTx(ctx, func(w writer) error {
		for i := range req.Items {
			if _, err := w.exec(ctx, sqlSavepoint); err != nil {
				return err
			}
			if errs[i] = req.Write(ctx, i, w); errs[i] != nil {
				if _, err := w.exec(ctx, sqlRollbackTo); err != nil {
					return fmt.Errorf("roll item %d back: %w", i, err)
				}
			}
			if _, err := w.exec(ctx, sqlRelease); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ledger.WriteBatchResponse{}, fmt.Errorf("sqlite: write batch of %d: %w", req.Items, err)
	}
	return ledger.WriteBatchResponse{Errors: errs}, nil
}

// inTx runs fn in a transaction and commits it when fn returns nil. The transaction
// takes the write lock at BEGIN (_txlock=immediate).
func (s *Store) inTx(ctx context.Context, fn func(w writer) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(writer{s: s, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// prepare prepares preparedStatements; called once by Open, before the store is shared.
func (s *Store) prepare(ctx context.Context) error {
	s.stmts = make(map[string]*sql.Stmt, len(preparedStatements))
	for _, q := range preparedStatements {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %.40q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// bound returns the prepared statement for query, bound to the writer's transaction
// if it has one; nil when query is not among preparedStatements.
func (w writer) bound(ctx context.Context, query string) *sql.Stmt {
	st := w.s.stmts[query]
	if st != nil && w.tx != nil {
		st = w.tx.StmtContext(ctx, st)
	}
	return st
}

func (w writer) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := w.bound(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if w.tx != nil {
		return w.tx.ExecContext(ctx, query, args...)
	}
	return w.s.db.ExecContext(ctx, query, args...)
}

func (w writer) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := w.bound(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return w.querier().QueryRowContext(ctx, query, args...)
}

func (w writer) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := w.bound(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return w.querier().QueryContext(ctx, query, args...)
}

func (w writer) querier() querier {
	if w.tx != nil {
		return w.tx
	}
	return w.s.db
}

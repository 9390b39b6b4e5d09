package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody-dev/custody/pkg/ledger"
)

// writer writes through the pool, each call a statement or transaction of its own (tx
// nil), or inside one transaction (WriteBatch). pgx prepares and caches each statement
// per connection.
type writer struct {
	s  *Store
	tx pgx.Tx
}

var _ ledger.Writer = writer{}

// writeQuerier is what *pgxpool.Pool and pgx.Tx have in common for writing.
type writeQuerier interface {
	querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func (w writer) q() writeQuerier {
	if w.tx != nil {
		return w.tx
	}
	return w.s.pool
}

// inTx runs fn in the writer's transaction (a savepoint of it) or in a new one.
func (w writer) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	if w.tx != nil {
		return pgx.BeginFunc(ctx, w.tx, fn)
	}
	return pgx.BeginFunc(ctx, w.s.pool, fn)
}

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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i := range req.Items {
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if errs[i] = req.Write(ctx, i, writer{s: s, tx: sp}); errs[i] != nil {
				if err := sp.Rollback(ctx); err != nil {
					return fmt.Errorf("roll item %d back: %w", i, err)
				}
				continue
			}
			if err := sp.Commit(ctx); err != nil {
				return fmt.Errorf("release item %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return ledger.WriteBatchResponse{}, fmt.Errorf("postgres: write batch of %d: %w", req.Items, err)
	}
	return ledger.WriteBatchResponse{Errors: errs}, nil
}

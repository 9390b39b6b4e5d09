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

// The Store's writes, one transaction each.

// RecordEvent appends an event to the history, idempotently on its id.
func (s *Store) RecordEvent(ctx context.Context, req ledger.RecordEventRequest) (ledger.RecordEventResponse, error) {
	return writer{s: s}.RecordEvent(ctx, req)
}

// PutBuild records a build, idempotently on its event id.
func (s *Store) PutBuild(ctx context.Context, req ledger.PutBuildRequest) (ledger.PutBuildResponse, error) {
	return writer{s: s}.PutBuild(ctx, req)
}

// PutAttestation records a verified attestation, idempotently on its envelope digest
// and subject.
func (s *Store) PutAttestation(ctx context.Context, req ledger.PutAttestationRequest) (ledger.PutAttestationResponse, error) {
	return writer{s: s}.PutAttestation(ctx, req)
}

// PutScan records a scan, idempotently on its event id.
func (s *Store) PutScan(ctx context.Context, req ledger.PutScanRequest) (ledger.PutScanResponse, error) {
	return writer{s: s}.PutScan(ctx, req)
}

// PutDecision records a gate decision, idempotently on its event id.
func (s *Store) PutDecision(ctx context.Context, req ledger.PutDecisionRequest) (ledger.PutDecisionResponse, error) {
	return writer{s: s}.PutDecision(ctx, req)
}

// UpdatePromotion creates or advances a promotion row (see ledger.MergePromotion).
func (s *Store) UpdatePromotion(ctx context.Context, req ledger.UpdatePromotionRequest) (ledger.UpdatePromotionResponse, error) {
	return writer{s: s}.UpdatePromotion(ctx, req)
}

// AppendLog appends an entry at the next index, idempotently on (kind, key).
func (s *Store) AppendLog(ctx context.Context, req ledger.AppendLogRequest) (ledger.AppendLogResponse, error) {
	return writer{s: s}.AppendLog(ctx, req)
}

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

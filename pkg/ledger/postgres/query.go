package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody-dev/custody/pkg/ledger"
)

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// readOnly runs fn in a read-only, repeatable-read transaction, so that the parts of one
// answer are one consistent snapshot.
func (s *Store) readOnly(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Provenance returns everything recorded about digest, or ledger.ErrNotFound.
func (s *Store) Provenance(ctx context.Context, digest string) (*ledger.Provenance, error) {
	if err := ledger.CheckDigest("artifact digest", digest); err != nil {
		return nil, err
	}
	p := &ledger.Provenance{Digest: digest}
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		builds, err := queryBuilds(ctx, tx, buildColumns+" WHERE digest = $1 ORDER BY recorded_at, seq LIMIT 1", digest)
		if err != nil {
			return err
		}
		if len(builds) > 0 {
			p.Build = &builds[0]
		}
		if p.Attestations, err = queryAttestations(ctx, tx, attestationsForQuery, digest); err != nil {
			return err
		}
		if p.Scans, err = queryScans(ctx, tx, digest); err != nil {
			return err
		}
		if p.Decisions, err = queryDecisions(ctx, tx, decisionColumns+" WHERE digest = $1 ORDER BY decided_at, event_id", digest); err != nil {
			return err
		}
		if p.Promotions, err = queryPromotions(ctx, tx,
			promotionColumns+" WHERE digest = $1 ORDER BY requested_at NULLS FIRST, request_id", digest); err != nil {
			return err
		}
		p.Timeline, err = queryEvents(ctx, tx, digest)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: provenance %s: %w", digest, err)
	}
	if p.Build == nil && len(p.Attestations) == 0 && len(p.Scans) == 0 && len(p.Decisions) == 0 &&
		len(p.Promotions) == 0 && len(p.Timeline) == 0 {
		return nil, fmt.Errorf("artifact %s: %w", digest, ledger.ErrNotFound)
	}
	return p, nil
}

// PromotionStatus returns the promotion and its first decision, or ledger.ErrNotFound.
func (s *Store) PromotionStatus(ctx context.Context, requestID string) (*ledger.PromotionState, error) {
	if requestID == "" || len(requestID) > 512 {
		return nil, fmt.Errorf("%w: promotion request id must be 1-512 bytes", ledger.ErrInvalid)
	}
	var st *ledger.PromotionState
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		p, err := queryPromotion(ctx, tx, promotionColumns+" WHERE request_id = $1", requestID)
		if err != nil {
			return err
		}
		st = &ledger.PromotionState{Promotion: *p}
		ds, err := queryDecisions(ctx, tx, decisionColumns+" WHERE request_id = $1 ORDER BY recorded_at, seq LIMIT 1", requestID)
		if err != nil {
			return err
		}
		if len(ds) > 0 {
			st.Decision = &ds[0]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return st, nil
}

// AttestationsFor lists the attestations recorded for a subject digest, oldest first.
func (s *Store) AttestationsFor(ctx context.Context, digest string) ([]ledger.Attestation, error) {
	if err := ledger.CheckDigest("subject digest", digest); err != nil {
		return nil, err
	}
	atts, err := queryAttestations(ctx, s.pool, attestationsForQuery, digest)
	if err != nil {
		return nil, fmt.Errorf("postgres: attestations for %s: %w", digest, err)
	}
	return atts, nil
}

const attestationColumns = `SELECT envelope_digest, subject_digest, image, predicate_type, key_ids, blob_digest,
	blob_media_type, blob_size, attachment, event_id, recorded_at, log_index FROM attestations`

const attestationsForQuery = attestationColumns + " WHERE subject_digest = $1 ORDER BY recorded_at, envelope_digest"

func queryAttestations(ctx context.Context, q querier, query string, args ...any) ([]ledger.Attestation, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Attestation{}
	for rows.Next() {
		var a ledger.Attestation
		if err := rows.Scan(&a.EnvelopeDigest, &a.SubjectDigest, &a.Image, &a.PredicateType, &a.KeyIDs, &a.Envelope.Digest,
			&a.Envelope.MediaType, &a.Envelope.Size, &a.Attachment, &a.EventID, &a.RecordedAt, &a.LogIndex); err != nil {
			return nil, err
		}
		a.KeyIDs = list(a.KeyIDs)
		a.RecordedAt = a.RecordedAt.UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

const buildColumns = `SELECT event_id, digest, image, source_repository, source_ref, commit_id, builder_id, build_type,
	invocation_id, started_at, finished_at FROM builds`

func queryBuilds(ctx context.Context, q querier, query string, args ...any) ([]ledger.Build, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Build
	for rows.Next() {
		var b ledger.Build
		var started, finished *time.Time
		if err := rows.Scan(&b.EventID, &b.Digest, &b.Image, &b.SourceRepository, &b.SourceRef, &b.Commit, &b.BuilderID,
			&b.BuildType, &b.InvocationID, &started, &finished); err != nil {
			return nil, err
		}
		b.StartedAt, b.FinishedAt = fromNull(started), fromNull(finished)
		out = append(out, b)
	}
	return out, rows.Err()
}

func queryScans(ctx context.Context, q querier, digest string) ([]ledger.Scan, error) {
	rows, err := q.Query(ctx, `SELECT event_id, digest, image, status, sbom_digest, package_count, detail, scanner,
		build_event_id, scanned_at FROM scans WHERE digest = $1 ORDER BY scanned_at NULLS FIRST, event_id`, digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Scan{}
	for rows.Next() {
		var sc ledger.Scan
		var status string
		var scanned *time.Time
		if err := rows.Scan(&sc.EventID, &sc.Digest, &sc.Image, &status, &sc.SBOMDigest, &sc.PackageCount, &sc.Detail,
			&sc.Scanner, &sc.BuildEventID, &scanned); err != nil {
			return nil, err
		}
		sc.Status, sc.ScannedAt = ledger.ScanStatus(status), fromNull(scanned)
		out = append(out, sc)
	}
	return out, rows.Err()
}

const decisionColumns = `SELECT event_id, request_id, digest, image, destination, verdict, reasons, policy_name,
	policy_digest, attestation_digests, decided_at FROM decisions`

func queryDecisions(ctx context.Context, q querier, query string, args ...any) ([]ledger.Decision, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Decision{}
	for rows.Next() {
		var d ledger.Decision
		var verdict string
		if err := rows.Scan(&d.EventID, &d.RequestID, &d.Digest, &d.Image, &d.Destination, &verdict, &d.Reasons,
			&d.PolicyName, &d.PolicyDigest, &d.AttestationDigests, &d.DecidedAt); err != nil {
			return nil, err
		}
		d.Reasons, d.AttestationDigests = list(d.Reasons), list(d.AttestationDigests)
		d.Verdict, d.DecidedAt = ledger.Verdict(verdict), d.DecidedAt.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

const promotionColumns = `SELECT request_id, digest, source_image, destination, requested_by, status,
	destination_image, error, requested_at, decided_at, finished_at, updated_at FROM promotions`

func queryPromotions(ctx context.Context, q querier, query string, args ...any) ([]ledger.Promotion, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Promotion{}
	for rows.Next() {
		var p ledger.Promotion
		var status string
		var requested, decided, finished *time.Time
		if err := rows.Scan(&p.RequestID, &p.Digest, &p.SourceImage, &p.Destination, &p.RequestedBy, &status,
			&p.DestinationImage, &p.Error, &requested, &decided, &finished, &p.UpdatedAt); err != nil {
			return nil, err
		}
		p.Status = ledger.PromotionStatusValue(status)
		p.RequestedAt, p.DecidedAt, p.FinishedAt = fromNull(requested), fromNull(decided), fromNull(finished)
		p.UpdatedAt = p.UpdatedAt.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// queryPromotion returns the one promotion query selects, or an error wrapping
// ledger.ErrNotFound.
func queryPromotion(ctx context.Context, q querier, query, requestID string) (*ledger.Promotion, error) {
	ps, err := queryPromotions(ctx, q, query, requestID)
	if err != nil {
		return nil, fmt.Errorf("promotion %s: %w", requestID, err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("promotion %s: %w", requestID, ledger.ErrNotFound)
	}
	return &ps[0], nil
}

func queryEvents(ctx context.Context, q querier, digest string) ([]ledger.Event, error) {
	rows, err := q.Query(ctx, `SELECT id, type, source, subject_digest, time, nats_subject, stream_seq, trace_id,
		payload, dlq, dlq_consumer, dlq_reason, dlq_original_id, dlq_original_subject, dlq_original_seq, dlq_attempts,
		recorded_at FROM events WHERE subject_digest = $1 ORDER BY time, stream_seq, id`, digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Event{}
	for rows.Next() {
		var e ledger.Event
		var dl ledger.DeadLetter
		var isDL bool
		var seq, origSeq, attempts int64
		if err := rows.Scan(&e.ID, &e.Type, &e.Source, &e.Subject, &e.Time, &e.NATSSubject, &seq, &e.TraceID, &e.Payload,
			&isDL, &dl.Consumer, &dl.Reason, &dl.OriginalID, &dl.OriginalSubject, &origSeq, &attempts, &e.RecordedAt); err != nil {
			return nil, err
		}
		e.Time, e.StreamSequence, e.RecordedAt = e.Time.UTC(), uint64(seq), e.RecordedAt.UTC()
		if isDL {
			dl.OriginalSequence, dl.Attempts = uint64(origSeq), uint64(attempts)
			e.DeadLetter = &dl
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
)

// RecordEvent appends an event to the history, idempotently on its id.
func (w writer) RecordEvent(ctx context.Context, req ledger.RecordEventRequest) (ledger.RecordEventResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.RecordEventResponse{}, err
	}
	e := req.Event
	var dl ledger.DeadLetter
	if e.DeadLetter != nil {
		dl = *e.DeadLetter
	}
	payload := e.Payload
	if payload == nil {
		payload = []byte{}
	}
	tag, err := w.q().Exec(ctx, `INSERT INTO events (id, type, source, subject_digest, time, nats_subject, stream_seq,
		trace_id, payload, dlq, dlq_consumer, dlq_reason, dlq_original_id, dlq_original_subject, dlq_original_seq,
		dlq_attempts, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.Type, e.Source, e.Subject, e.Time, e.NATSSubject, int64(e.StreamSequence), e.TraceID, payload,
		e.DeadLetter != nil, dl.Consumer, dl.Reason, dl.OriginalID, dl.OriginalSubject, int64(dl.OriginalSequence),
		int64(dl.Attempts), w.s.now())
	if err != nil {
		return ledger.RecordEventResponse{}, fmt.Errorf("postgres: record event %s: %w", e.ID, err)
	}
	if tag.RowsAffected() == 1 {
		return ledger.RecordEventResponse{Inserted: true}, nil
	}
	// Same id: the same event again, or a different one claiming its id.
	var typ, subject string
	var old []byte
	err = w.q().QueryRow(ctx, "SELECT type, subject_digest, payload FROM events WHERE id = $1", e.ID).
		Scan(&typ, &subject, &old)
	if err != nil {
		return ledger.RecordEventResponse{}, fmt.Errorf("postgres: record event %s: read existing: %w", e.ID, err)
	}
	if typ != e.Type || subject != e.Subject || !bytes.Equal(old, payload) {
		return ledger.RecordEventResponse{}, fmt.Errorf("%w: event %s is already recorded with a different type, subject or payload",
			ledger.ErrConflict, e.ID)
	}
	return ledger.RecordEventResponse{}, nil
}

// PutBuild records a build, idempotently on its event id.
func (w writer) PutBuild(ctx context.Context, req ledger.PutBuildRequest) (ledger.PutBuildResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.PutBuildResponse{}, err
	}
	b := req.Build
	tag, err := w.q().Exec(ctx, `INSERT INTO builds (event_id, digest, image, source_repository, source_ref, commit_id,
		builder_id, build_type, invocation_id, started_at, finished_at, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (event_id) DO NOTHING`,
		b.EventID, b.Digest, b.Image, b.SourceRepository, b.SourceRef, b.Commit, b.BuilderID, b.BuildType,
		b.InvocationID, nullTime(b.StartedAt), nullTime(b.FinishedAt), w.s.now())
	if err != nil {
		return ledger.PutBuildResponse{}, fmt.Errorf("postgres: put build %s: %w", b.Digest, err)
	}
	return ledger.PutBuildResponse{Inserted: tag.RowsAffected() == 1}, nil
}

// PutAttestation records a verified attestation, idempotently on its envelope digest
// and subject.
func (w writer) PutAttestation(ctx context.Context, req ledger.PutAttestationRequest) (ledger.PutAttestationResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.PutAttestationResponse{}, err
	}
	a := req.Attestation
	if a.RecordedAt.IsZero() {
		a.RecordedAt = w.s.now()
	}
	a.RecordedAt = micros(a.RecordedAt)
	a.KeyIDs = slices.Clone(a.KeyIDs)
	slices.Sort(a.KeyIDs)
	a.KeyIDs = slices.Compact(a.KeyIDs)
	tag, err := w.q().Exec(ctx, `INSERT INTO attestations (envelope_digest, subject_digest, image, predicate_type,
		key_ids, blob_digest, blob_media_type, blob_size, attachment, event_id, recorded_at, log_index)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (envelope_digest, subject_digest) DO NOTHING`,
		a.EnvelopeDigest, a.SubjectDigest, a.Image, a.PredicateType, a.KeyIDs, a.Envelope.Digest, a.Envelope.MediaType,
		a.Envelope.Size, a.Attachment, a.EventID, a.RecordedAt, a.LogIndex)
	if err != nil {
		return ledger.PutAttestationResponse{}, fmt.Errorf("postgres: put attestation %s: %w", a.EnvelopeDigest, err)
	}
	if tag.RowsAffected() == 1 {
		return ledger.PutAttestationResponse{Inserted: true, Attestation: a}, nil
	}
	existing, err := queryAttestations(ctx, w.q(), attestationColumns+" WHERE envelope_digest = $1 AND subject_digest = $2",
		a.EnvelopeDigest, a.SubjectDigest)
	if err == nil && len(existing) != 1 {
		err = pgx.ErrNoRows
	}
	if err != nil {
		return ledger.PutAttestationResponse{}, fmt.Errorf("postgres: put attestation %s: read existing: %w", a.EnvelopeDigest, err)
	}
	return ledger.PutAttestationResponse{Attestation: existing[0]}, nil
}

// PutScan records a scan, idempotently on its event id.
func (w writer) PutScan(ctx context.Context, req ledger.PutScanRequest) (ledger.PutScanResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.PutScanResponse{}, err
	}
	sc := req.Scan
	tag, err := w.q().Exec(ctx, `INSERT INTO scans (event_id, digest, image, status, sbom_digest, package_count, detail,
		scanner, build_event_id, scanned_at, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (event_id) DO NOTHING`,
		sc.EventID, sc.Digest, sc.Image, string(sc.Status), sc.SBOMDigest, sc.PackageCount, sc.Detail, sc.Scanner,
		sc.BuildEventID, nullTime(sc.ScannedAt), w.s.now())
	if err != nil {
		return ledger.PutScanResponse{}, fmt.Errorf("postgres: put scan %s: %w", sc.Digest, err)
	}
	return ledger.PutScanResponse{Inserted: tag.RowsAffected() == 1}, nil
}

// PutDecision records a gate decision, idempotently on its event id.
func (w writer) PutDecision(ctx context.Context, req ledger.PutDecisionRequest) (ledger.PutDecisionResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.PutDecisionResponse{}, err
	}
	d := req.Decision
	tag, err := w.q().Exec(ctx, `INSERT INTO decisions (event_id, request_id, digest, image, destination, verdict,
		reasons, policy_name, policy_digest, attestation_digests, decided_at, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (event_id) DO NOTHING`,
		d.EventID, d.RequestID, d.Digest, d.Image, d.Destination, string(d.Verdict), list(d.Reasons), d.PolicyName,
		d.PolicyDigest, list(d.AttestationDigests), d.DecidedAt, w.s.now())
	if err != nil {
		return ledger.PutDecisionResponse{}, fmt.Errorf("postgres: put decision %s: %w", d.RequestID, err)
	}
	return ledger.PutDecisionResponse{Inserted: tag.RowsAffected() == 1}, nil
}

// UpdatePromotion creates or advances a promotion row (see ledger.MergePromotion).
func (w writer) UpdatePromotion(ctx context.Context, req ledger.UpdatePromotionRequest) (ledger.UpdatePromotionResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.UpdatePromotionResponse{}, err
	}
	var resp ledger.UpdatePromotionResponse
	err := w.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		resp, err = w.s.updatePromotion(ctx, tx, req.Promotion)
		return err
	})
	if err != nil {
		return ledger.UpdatePromotionResponse{}, fmt.Errorf("postgres: update promotion %s: %w", req.Promotion.RequestID, err)
	}
	return resp, nil
}

// updatePromotion merges upd into the row under a row lock (SELECT ... FOR UPDATE), so
// that concurrent updates of one promotion apply one after the other. When there is no
// row yet, it inserts with ON CONFLICT DO NOTHING; if another transaction inserted the
// row first, the insert waits for it and does nothing, and the loop merges into that
// row instead.
func (s *Store) updatePromotion(ctx context.Context, tx pgx.Tx, upd ledger.Promotion) (ledger.UpdatePromotionResponse, error) {
	for {
		old, err := queryPromotion(ctx, tx, promotionColumns+" WHERE request_id = $1 FOR UPDATE", upd.RequestID)
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return ledger.UpdatePromotionResponse{}, err
		}
		p, changed := ledger.MergePromotion(old, upd, s.now())
		p.UpdatedAt = micros(p.UpdatedAt)
		resp := ledger.UpdatePromotionResponse{Inserted: old == nil, Changed: changed, Promotion: p}
		if !changed {
			return resp, nil
		}
		if old != nil {
			_, err := tx.Exec(ctx, `UPDATE promotions SET digest = $2, source_image = $3, destination = $4,
				requested_by = $5, status = $6, destination_image = $7, error = $8, requested_at = $9, decided_at = $10,
				finished_at = $11, updated_at = $12 WHERE request_id = $1`, promotionArgs(p)...)
			return resp, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO promotions (request_id, digest, source_image, destination, requested_by,
			status, destination_image, error, requested_at, decided_at, finished_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (request_id) DO NOTHING`,
			promotionArgs(p)...)
		if err != nil || tag.RowsAffected() == 1 {
			return resp, err
		}
		if err := ctx.Err(); err != nil {
			return ledger.UpdatePromotionResponse{}, err
		}
	}
}

func promotionArgs(p ledger.Promotion) []any {
	return []any{p.RequestID, p.Digest, p.SourceImage, p.Destination, p.RequestedBy, string(p.Status),
		p.DestinationImage, p.Error, nullTime(p.RequestedAt), nullTime(p.DecidedAt), nullTime(p.FinishedAt), p.UpdatedAt}
}

// nullTime stores an unknown (zero) time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromNull reads a nullable time back: NULL is the zero time; others are in UTC.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// micros rounds a time down to what timestamptz keeps, in UTC, so that what a write
// returns equals what a read returns later.
func micros(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// list stores a nil list as an empty array.
func list(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}

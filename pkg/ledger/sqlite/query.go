package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/custody-dev/custody/pkg/ledger"
)

// querier is what *sql.DB and *sql.Tx have in common, and a writer, which runs the
// statements in preparedStatements prepared.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// QueryContext runs query, prepared when it is one of preparedStatements, in the
// writer's transaction if it has one.
func (w writer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return w.query(ctx, query, args...)
}

// QueryRowContext is QueryContext for one row.
func (w writer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return w.queryRow(ctx, query, args...)
}

// Provenance returns everything recorded about digest, or ledger.ErrNotFound.
func (s *Store) Provenance(ctx context.Context, digest string) (*ledger.Provenance, error) {
	if err := ledger.CheckDigest("artifact digest", digest); err != nil {
		return nil, err
	}
	// One read transaction, so the parts are one consistent snapshot.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: provenance %s: %w", digest, err)
	}
	defer func() { _ = tx.Rollback() }()
	q := writer{s: s, tx: tx} // runs the prepared statements in tx
	p := &ledger.Provenance{Digest: digest}

	builds, err := queryBuilds(ctx, q, sqlFirstBuild, digest)
	if err != nil {
		return nil, fmt.Errorf("sqlite: provenance %s: %w", digest, err)
	}
	if len(builds) > 0 {
		p.Build = &builds[0]
	}
	if p.Attestations, err = s.attestationsFor(ctx, q, digest); err != nil {
		return nil, fmt.Errorf("sqlite: provenance %s: %w", digest, err)
	}
	if p.Scans, err = queryScans(ctx, q, digest); err != nil {
		return nil, fmt.Errorf("sqlite: provenance %s: %w", digest, err)
	}
	if p.Decisions, err = queryDecisions(ctx, q, sqlDecisionsOf, digest); err != nil {
		return nil, fmt.Errorf("sqlite: provenance %s: %w", digest, err)
	}
	if p.Promotions, err = queryPromotions(ctx, q, sqlPromotionsOf, digest); err != nil {
		return nil, fmt.Errorf("sqlite: provenance %s: %w", digest, err)
	}
	if p.Timeline, err = queryEvents(ctx, q, digest); err != nil {
		return nil, fmt.Errorf("sqlite: provenance %s: %w", digest, err)
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
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: promotion %s: %w", requestID, err)
	}
	defer func() { _ = tx.Rollback() }()
	q := writer{s: s, tx: tx}
	p, err := queryPromotion(ctx, q, requestID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	st := &ledger.PromotionState{Promotion: *p}
	ds, err := queryDecisions(ctx, q, sqlFirstDecisionOf, requestID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: promotion %s: %w", requestID, err)
	}
	if len(ds) > 0 {
		st.Decision = &ds[0]
	}
	return st, nil
}

// AttestationsFor lists the attestations recorded for a subject digest, oldest first.
func (s *Store) AttestationsFor(ctx context.Context, digest string) ([]ledger.Attestation, error) {
	if err := ledger.CheckDigest("subject digest", digest); err != nil {
		return nil, err
	}
	atts, err := s.attestationsFor(ctx, writer{s: s}, digest)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attestations for %s: %w", digest, err)
	}
	return atts, nil
}

func (s *Store) attestationsFor(ctx context.Context, q querier, digest string) ([]ledger.Attestation, error) {
	rows, err := q.QueryContext(ctx, sqlAttestationsOf, digest)
	if err != nil {
		return nil, err
	}
	return scanAttestations(rows)
}

const attestationColumns = `SELECT envelope_digest, subject_digest, image, predicate_type, key_ids, blob_digest,
	blob_media_type, blob_size, attachment, event_id, recorded_ns, log_index FROM attestations`

func scanAttestations(rows *sql.Rows) ([]ledger.Attestation, error) {
	defer rows.Close()
	out := []ledger.Attestation{}
	for rows.Next() {
		var a ledger.Attestation
		var keyIDs string
		var recorded int64
		if err := rows.Scan(&a.EnvelopeDigest, &a.SubjectDigest, &a.Image, &a.PredicateType, &keyIDs, &a.Envelope.Digest,
			&a.Envelope.MediaType, &a.Envelope.Size, &a.Attachment, &a.EventID, &recorded, &a.LogIndex); err != nil {
			return nil, err
		}
		var err error
		if a.KeyIDs, err = decodeList(keyIDs); err != nil {
			return nil, err
		}
		a.RecordedAt = fromNS(recorded)
		out = append(out, a)
	}
	return out, rows.Err()
}

const buildColumns = `SELECT event_id, digest, image, source_repository, source_ref, commit_id, builder_id, build_type,
	invocation_id, started_ns, finished_ns FROM builds`

func queryBuilds(ctx context.Context, q querier, query string, args ...any) ([]ledger.Build, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Build
	for rows.Next() {
		var b ledger.Build
		var started, finished int64
		if err := rows.Scan(&b.EventID, &b.Digest, &b.Image, &b.SourceRepository, &b.SourceRef, &b.Commit, &b.BuilderID,
			&b.BuildType, &b.InvocationID, &started, &finished); err != nil {
			return nil, err
		}
		b.StartedAt, b.FinishedAt = fromNS(started), fromNS(finished)
		out = append(out, b)
	}
	return out, rows.Err()
}

func queryScans(ctx context.Context, q querier, digest string) ([]ledger.Scan, error) {
	rows, err := q.QueryContext(ctx, sqlScansOf, digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Scan{}
	for rows.Next() {
		var sc ledger.Scan
		var status string
		var scanned int64
		if err := rows.Scan(&sc.EventID, &sc.Digest, &sc.Image, &status, &sc.SBOMDigest, &sc.PackageCount, &sc.Detail,
			&sc.Scanner, &sc.BuildEventID, &scanned); err != nil {
			return nil, err
		}
		sc.Status, sc.ScannedAt = ledger.ScanStatus(status), fromNS(scanned)
		out = append(out, sc)
	}
	return out, rows.Err()
}

const decisionColumns = `SELECT event_id, request_id, digest, image, destination, verdict, reasons, policy_name,
	policy_digest, attestation_digests, decided_ns FROM decisions`

func queryDecisions(ctx context.Context, q querier, query string, args ...any) ([]ledger.Decision, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Decision{}
	for rows.Next() {
		var d ledger.Decision
		var verdict, reasons, atts string
		var decided int64
		if err := rows.Scan(&d.EventID, &d.RequestID, &d.Digest, &d.Image, &d.Destination, &verdict, &reasons,
			&d.PolicyName, &d.PolicyDigest, &atts, &decided); err != nil {
			return nil, err
		}
		var err error
		if d.Reasons, err = decodeList(reasons); err != nil {
			return nil, err
		}
		if d.AttestationDigests, err = decodeList(atts); err != nil {
			return nil, err
		}
		d.Verdict, d.DecidedAt = ledger.Verdict(verdict), fromNS(decided)
		out = append(out, d)
	}
	return out, rows.Err()
}

const promotionColumns = `SELECT request_id, digest, source_image, destination, requested_by, status,
	destination_image, error, requested_ns, decided_ns, finished_ns, updated_ns FROM promotions`

func queryPromotions(ctx context.Context, q querier, query string, args ...any) ([]ledger.Promotion, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Promotion{}
	for rows.Next() {
		var p ledger.Promotion
		var status string
		var requested, decided, finished, updated int64
		if err := rows.Scan(&p.RequestID, &p.Digest, &p.SourceImage, &p.Destination, &p.RequestedBy, &status,
			&p.DestinationImage, &p.Error, &requested, &decided, &finished, &updated); err != nil {
			return nil, err
		}
		p.Status = ledger.PromotionStatusValue(status)
		p.RequestedAt, p.DecidedAt, p.FinishedAt, p.UpdatedAt = fromNS(requested), fromNS(decided), fromNS(finished), fromNS(updated)
		out = append(out, p)
	}
	return out, rows.Err()
}

// queryPromotion returns the promotion row, or an error wrapping ledger.ErrNotFound.
func queryPromotion(ctx context.Context, q querier, requestID string) (*ledger.Promotion, error) {
	ps, err := queryPromotions(ctx, q, sqlPromotion, requestID)
	if err != nil {
		return nil, fmt.Errorf("promotion %s: %w", requestID, err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("promotion %s: %w", requestID, ledger.ErrNotFound)
	}
	return &ps[0], nil
}

func queryEvents(ctx context.Context, q querier, digest string) ([]ledger.Event, error) {
	rows, err := q.QueryContext(ctx, sqlEventsOf, digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ledger.Event{}
	for rows.Next() {
		var e ledger.Event
		var dl ledger.DeadLetter
		var isDL int
		var tm, seq, origSeq, attempts, recorded int64
		if err := rows.Scan(&e.ID, &e.Type, &e.Source, &e.Subject, &tm, &e.NATSSubject, &seq, &e.TraceID, &e.Payload,
			&isDL, &dl.Consumer, &dl.Reason, &dl.OriginalID, &dl.OriginalSubject, &origSeq, &attempts, &recorded); err != nil {
			return nil, err
		}
		e.Time, e.StreamSequence, e.RecordedAt = fromNS(tm), uint64(seq), fromNS(recorded)
		if isDL == 1 {
			dl.OriginalSequence, dl.Attempts = uint64(origSeq), uint64(attempts)
			e.DeadLetter = &dl
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

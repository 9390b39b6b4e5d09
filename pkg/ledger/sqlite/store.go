package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

// RecordEvent appends an event to the history, idempotently on its id.
func (w writer) RecordEvent(ctx context.Context, req ledger.RecordEventRequest) (ledger.RecordEventResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.RecordEventResponse{}, err
	}
	e := req.Event
	var dl ledger.DeadLetter
	isDL := 0
	if e.DeadLetter != nil {
		dl, isDL = *e.DeadLetter, 1
	}
	payload := e.Payload
	if payload == nil {
		payload = []byte{}
	}
	res, err := w.exec(ctx, sqlInsertEvent,
		e.ID, e.Type, e.Source, e.Subject, toNS(e.Time), e.NATSSubject, int64(e.StreamSequence), e.TraceID,
		payload, isDL, dl.Consumer, dl.Reason, dl.OriginalID, dl.OriginalSubject, int64(dl.OriginalSequence),
		int64(dl.Attempts), w.s.now().UnixNano())
	if err != nil {
		return ledger.RecordEventResponse{}, fmt.Errorf("sqlite: record event %s: %w", e.ID, err)
	}
	if inserted, err := insertedOne(res); err != nil || inserted {
		return ledger.RecordEventResponse{Inserted: inserted}, err
	}
	// Same id: the same event again, or a different one claiming its id.
	var typ, subject string
	var old []byte
	err = w.queryRow(ctx, sqlSelectEvent, e.ID).
		Scan(&typ, &subject, &old)
	if err != nil {
		return ledger.RecordEventResponse{}, fmt.Errorf("sqlite: record event %s: read existing: %w", e.ID, err)
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
	res, err := w.exec(ctx, sqlInsertBuild,
		b.EventID, b.Digest, b.Image, b.SourceRepository, b.SourceRef, b.Commit, b.BuilderID, b.BuildType,
		b.InvocationID, toNS(b.StartedAt), toNS(b.FinishedAt), w.s.now().UnixNano())
	if err != nil {
		return ledger.PutBuildResponse{}, fmt.Errorf("sqlite: put build %s: %w", b.Digest, err)
	}
	inserted, err := insertedOne(res)
	return ledger.PutBuildResponse{Inserted: inserted}, err
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
	a.RecordedAt = fromNS(a.RecordedAt.UnixNano())
	a.KeyIDs = slices.Clone(a.KeyIDs)
	slices.Sort(a.KeyIDs)
	a.KeyIDs = slices.Compact(a.KeyIDs)
	keyIDs, err := encodeList(a.KeyIDs)
	if err != nil {
		return ledger.PutAttestationResponse{}, err
	}
	res, err := w.exec(ctx, sqlInsertAttestation,
		a.EnvelopeDigest, a.SubjectDigest, a.Image, a.PredicateType, keyIDs, a.Envelope.Digest, a.Envelope.MediaType,
		a.Envelope.Size, a.Attachment, a.EventID, toNS(a.RecordedAt), a.LogIndex)
	if err != nil {
		return ledger.PutAttestationResponse{}, fmt.Errorf("sqlite: put attestation %s: %w", a.EnvelopeDigest, err)
	}
	inserted, err := insertedOne(res)
	if err != nil {
		return ledger.PutAttestationResponse{}, err
	}
	if inserted {
		return ledger.PutAttestationResponse{Inserted: true, Attestation: a}, nil
	}
	rows, err := w.query(ctx, attestationColumns+" WHERE envelope_digest = ? AND subject_digest = ?",
		a.EnvelopeDigest, a.SubjectDigest)
	if err != nil {
		return ledger.PutAttestationResponse{}, fmt.Errorf("sqlite: put attestation %s: read existing: %w", a.EnvelopeDigest, err)
	}
	existing, err := scanAttestations(rows)
	if err != nil || len(existing) != 1 {
		return ledger.PutAttestationResponse{}, fmt.Errorf("sqlite: put attestation %s: read existing: %w", a.EnvelopeDigest,
			errors.Join(err, sql.ErrNoRows))
	}
	return ledger.PutAttestationResponse{Attestation: existing[0]}, nil
}

// PutScan records a scan, idempotently on its event id.
func (w writer) PutScan(ctx context.Context, req ledger.PutScanRequest) (ledger.PutScanResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.PutScanResponse{}, err
	}
	sc := req.Scan
	res, err := w.exec(ctx, sqlInsertScan,
		sc.EventID, sc.Digest, sc.Image, string(sc.Status), sc.SBOMDigest, sc.PackageCount, sc.Detail, sc.Scanner,
		sc.BuildEventID, toNS(sc.ScannedAt), w.s.now().UnixNano())
	if err != nil {
		return ledger.PutScanResponse{}, fmt.Errorf("sqlite: put scan %s: %w", sc.Digest, err)
	}
	inserted, err := insertedOne(res)
	return ledger.PutScanResponse{Inserted: inserted}, err
}

// PutDecision records a gate decision, idempotently on its event id.
func (w writer) PutDecision(ctx context.Context, req ledger.PutDecisionRequest) (ledger.PutDecisionResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.PutDecisionResponse{}, err
	}
	d := req.Decision
	reasons, err := encodeList(d.Reasons)
	if err != nil {
		return ledger.PutDecisionResponse{}, err
	}
	atts, err := encodeList(d.AttestationDigests)
	if err != nil {
		return ledger.PutDecisionResponse{}, err
	}
	res, err := w.exec(ctx, sqlInsertDecision,
		d.EventID, d.RequestID, d.Digest, d.Image, d.Destination, string(d.Verdict), reasons, d.PolicyName,
		d.PolicyDigest, atts, toNS(d.DecidedAt), w.s.now().UnixNano())
	if err != nil {
		return ledger.PutDecisionResponse{}, fmt.Errorf("sqlite: put decision %s: %w", d.RequestID, err)
	}
	inserted, err := insertedOne(res)
	return ledger.PutDecisionResponse{Inserted: inserted}, err
}

// UpdatePromotion creates or advances a promotion row (see ledger.MergePromotion).
func (w writer) UpdatePromotion(ctx context.Context, req ledger.UpdatePromotionRequest) (ledger.UpdatePromotionResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.UpdatePromotionResponse{}, err
	}
	upd := req.Promotion
	if w.tx == nil {
		// The transaction takes the write lock at BEGIN (_txlock=immediate), so
		// concurrent updates of one promotion are serialised rather than lost.
		var resp ledger.UpdatePromotionResponse
		err := w.s.inTx(ctx, func(tx writer) (err error) {
			resp, err = tx.UpdatePromotion(ctx, req)
			return err
		})
		if err != nil {
			return ledger.UpdatePromotionResponse{}, err
		}
		return resp, nil
	}
	tx := w.tx
	old, err := queryPromotion(ctx, tx, upd.RequestID)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return ledger.UpdatePromotionResponse{}, fmt.Errorf("sqlite: update promotion %s: %w", upd.RequestID, err)
	}
	p, changed := ledger.MergePromotion(old, upd, w.s.now())
	p.UpdatedAt = fromNS(toNS(p.UpdatedAt))
	resp := ledger.UpdatePromotionResponse{Inserted: old == nil, Changed: changed, Promotion: p}
	if !changed {
		return resp, nil
	}
	if old == nil {
		_, err = w.exec(ctx, sqlInsertPromotion,
			p.RequestID, p.Digest, p.SourceImage, p.Destination, p.RequestedBy, string(p.Status), p.DestinationImage,
			p.Error, toNS(p.RequestedAt), toNS(p.DecidedAt), toNS(p.FinishedAt), toNS(p.UpdatedAt))
	} else {
		_, err = w.exec(ctx, sqlUpdatePromotion,
			p.Digest, p.SourceImage, p.Destination, p.RequestedBy, string(p.Status), p.DestinationImage, p.Error,
			toNS(p.RequestedAt), toNS(p.DecidedAt), toNS(p.FinishedAt), toNS(p.UpdatedAt), p.RequestID)
	}
	if err != nil {
		return ledger.UpdatePromotionResponse{}, fmt.Errorf("sqlite: update promotion %s: %w", upd.RequestID, err)
	}
	return resp, nil
}

func insertedOne(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: rows affected: %w", err)
	}
	return n == 1, nil
}

// toNS stores a time as Unix nanoseconds; 0 means unknown.
func toNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func encodeList(items []string) (string, error) {
	if items == nil {
		items = []string{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", fmt.Errorf("sqlite: encode list: %w", err)
	}
	return string(b), nil
}

func decodeList(s string) ([]string, error) {
	var items []string
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return nil, fmt.Errorf("sqlite: decode stored list: %w", err)
	}
	if items == nil {
		items = []string{}
	}
	return items, nil
}

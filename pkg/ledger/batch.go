package ledger

import (
	"context"
	"fmt"
)

// Writer is the write half of a Store: everything recording one event may do. A Store
// is a Writer whose every call is its own transaction; inside WriteBatch, the Writer
// handed to each item writes into the batch's transaction.
type Writer interface {
	// RecordEvent appends an event to the history. Idempotent on Event.ID: the same
	// event again reports Inserted false; a different event under a recorded id is
	// ErrConflict.
	RecordEvent(ctx context.Context, req RecordEventRequest) (RecordEventResponse, error)
	// PutBuild records a build. Idempotent on Build.EventID.
	PutBuild(ctx context.Context, req PutBuildRequest) (PutBuildResponse, error)
	// PutAttestation records a verified attestation. Idempotent on the envelope digest
	// (for the same subject): the first record is kept.
	PutAttestation(ctx context.Context, req PutAttestationRequest) (PutAttestationResponse, error)
	// PutScan records a scan. Idempotent on Scan.EventID.
	PutScan(ctx context.Context, req PutScanRequest) (PutScanResponse, error)
	// PutDecision records a gate decision. Idempotent on Decision.EventID.
	PutDecision(ctx context.Context, req PutDecisionRequest) (PutDecisionResponse, error)
	// UpdatePromotion creates or advances the promotion row keyed by RequestID. Status
	// only moves forward (requested, then allowed or denied, then completed or
	// failed), so events applied out of order or twice leave the same row; fields the
	// row lacks are filled in from any update.
	UpdatePromotion(ctx context.Context, req UpdatePromotionRequest) (UpdatePromotionResponse, error)
	// AppendLog appends an entry to the append-only log at the next index (indexes run
	// 0, 1, 2... without gaps). Idempotent on (Kind, Key): the same entry again returns
	// its existing index with Inserted false; a different entry under a recorded key is
	// ErrConflict.
	AppendLog(ctx context.Context, req AppendLogRequest) (AppendLogResponse, error)
	// PutPackages records the inventory of one SBOM of an artifact. Idempotent on
	// (Digest, SBOMDigest) for the inventory and on (Digest, SBOMDigest, PURL) for each
	// package: the same call again inserts nothing. Inside WriteBatch, many artifacts'
	// inventories share one transaction, which is what makes loading them in bulk fast.
	PutPackages(ctx context.Context, req PutPackagesRequest) (PutPackagesResponse, error)
}

// MaxBatch bounds the items of one WriteBatch.
const MaxBatch = 1024

// WriteBatchRequest asks for the writes of Items items in one transaction: Write is
// called once per item, in order, with the item's index and a Writer bound to the
// transaction. Each item runs in a savepoint, so an item whose Write returns an error
// is rolled back alone (its error is reported at its index) and the others commit
// together: one commit, and one log lock, for the whole batch.
//
// Write must do nothing but write through w (no network calls: the transaction holds
// the database's write lock while it runs) and must not keep w after it returns.
type WriteBatchRequest struct {
	Items int
	Write func(ctx context.Context, item int, w Writer) error
}

// WriteBatchResponse reports each item's outcome: Errors[i] is nil when item i's
// writes committed.
type WriteBatchResponse struct {
	Errors []error
}

// Validate checks the request's shape.
func (r WriteBatchRequest) Validate() error {
	switch {
	case r.Items < 0 || r.Items > MaxBatch:
		return fmt.Errorf("%w: a batch of %d items: give 0-%d", ErrInvalid, r.Items, MaxBatch)
	case r.Write == nil:
		return fmt.Errorf("%w: a batch without a write function", ErrInvalid)
	}
	return nil
}

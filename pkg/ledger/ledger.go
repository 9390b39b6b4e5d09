package ledger

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them, so callers branch with errors.Is.
var (
	// ErrInvalid: the request is malformed (a bad digest, an oversized field, a missing
	// key). Retrying the same request cannot succeed.
	ErrInvalid = errors.New("invalid ledger request")
	// ErrNotFound: nothing is recorded under the key asked for.
	ErrNotFound = errors.New("not found in ledger")
	// ErrConflict: a record with the same key but different content already exists (for
	// example two events sharing one id). The first record is kept.
	ErrConflict = errors.New("conflicting ledger record")
)

// Store is the ledger's storage contract. Every write is idempotent on content and
// reports whether it changed anything; every method is safe for concurrent use.
// Requests and responses are structs so that the contract can grow without breaking
// implementations.
type Store interface {
	// Writer is every write, one transaction each.
	Writer
	// WriteBatch applies several items' writes in one transaction (see WriteBatchRequest).
	WriteBatch(ctx context.Context, req WriteBatchRequest) (WriteBatchResponse, error)

	// Provenance returns everything recorded about an artifact digest, or ErrNotFound
	// when nothing is.
	Provenance(ctx context.Context, digest string) (*Provenance, error)
	// PromotionStatus returns a promotion and its latest decision, or ErrNotFound.
	PromotionStatus(ctx context.Context, requestID string) (*PromotionState, error)
	// AttestationsFor lists the attestations recorded for a subject digest, oldest
	// first; an empty list (not an error) when there are none.
	AttestationsFor(ctx context.Context, digest string) ([]Attestation, error)

	// LogSize returns the number of entries in the log.
	LogSize(ctx context.Context) (int64, error)
	// LogEntries returns the entries with start <= index < end, in index order; fewer
	// when the log is shorter. At most MaxLogPage entries may be asked for at once.
	LogEntries(ctx context.Context, start, end int64) ([]LogEntry, error)
	// LogLeafHashes returns the stored leaf hashes of the first size entries, or
	// ErrInvalid when the log has fewer.
	LogLeafHashes(ctx context.Context, size int64) ([][]byte, error)
	// LogEntryByKey returns the entry appended under (kind, key), or ErrNotFound.
	LogEntryByKey(ctx context.Context, kind, key string) (LogEntry, error)

	// VulnStore keeps the vulnerability database (OSV records) the scanner matches with.
	VulnStore
	// InventoryStore keeps the packages of each artifact, from its SBOMs.
	InventoryStore
	// AuditStore answers the auditors' listings of artifacts and decisions.
	AuditStore

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. It is safe to call twice.
	Close() error
}

// Event is one entry of the history: any custody.> event, as delivered.
type Event struct {
	// ID is the event's ce-id (for dead-letter records, an id of their own).
	ID string
	// Type is the CloudEvents type (custody.build.completed, custody.dlq, ...).
	Type   string
	Source string
	// Subject is the artifact digest the event is about; empty when it names none.
	Subject string
	Time    time.Time
	// NATSSubject is the subject the event was published on.
	NATSSubject string
	// StreamSequence is the event's position in the stream.
	StreamSequence uint64
	// TraceID is the W3C trace id (32 lowercase hex) from traceparent, or empty.
	TraceID string
	// Payload is the raw event payload (protobuf), at most MaxPayload bytes.
	Payload []byte
	// DeadLetter is set on dead-letter records.
	DeadLetter *DeadLetter
	// RecordedAt is when the ledger stored the event (set by the Store).
	RecordedAt time.Time
}

// DeadLetter describes why a consumer gave up on an event.
type DeadLetter struct {
	Consumer string
	Reason   string
	// OriginalID is the ce-id of the event that was given up on.
	OriginalID string
	// OriginalSubject and OriginalSequence locate it in the stream.
	OriginalSubject  string
	OriginalSequence uint64
	Attempts         uint64
}

// Build is a build of an artifact, from custody.build.completed.
type Build struct {
	Digest           string
	Image            string
	SourceRepository string
	SourceRef        string
	Commit           string
	BuilderID        string
	BuildType        string
	InvocationID     string
	StartedAt        time.Time
	FinishedAt       time.Time
	// EventID is the build event's id; the record's key.
	EventID string
}

// Blob names a document in the blob store.
type Blob struct {
	Digest    string
	MediaType string
	Size      int64
}

// Attestation is a DSSE envelope the ledger verified against trusted keys.
type Attestation struct {
	// EnvelopeDigest is sha256 of the envelope JSON; with SubjectDigest, the key.
	EnvelopeDigest string
	SubjectDigest  string
	Image          string
	PredicateType  string
	// KeyIDs are the trusted keys whose signatures verified, sorted.
	KeyIDs []string
	// Envelope is where the envelope is stored.
	Envelope Blob
	// Attachment is the registry reference of the attachment manifest, if any.
	Attachment string
	// EventID is the custody.attestation.signed event's id.
	EventID    string
	RecordedAt time.Time
	// LogIndex is the position in the append-only log; -1 while there is none.
	LogIndex int64
}

// ScanStatus is how far a scan got.
type ScanStatus string

// Scan statuses.
const (
	ScanUnspecified ScanStatus = "unspecified"
	ScanComplete    ScanStatus = "complete"
	ScanIncomplete  ScanStatus = "incomplete"
	ScanFailed      ScanStatus = "failed"
)

// Scan is a scan of an artifact, from custody.scan.completed.
type Scan struct {
	Digest string
	Image  string
	Status ScanStatus
	// SBOMDigest names the CycloneDX SBOM in the blob store, or is empty.
	SBOMDigest   string
	PackageCount int64
	Detail       string
	Scanner      string
	BuildEventID string
	ScannedAt    time.Time
	// EventID is the scan event's id; the record's key.
	EventID string
}

// Verdict is a gate decision's outcome.
type Verdict string

// Verdicts. There is no third value: anything that is not an allowance is a denial.
const (
	Allowed Verdict = "allowed"
	Denied  Verdict = "denied"
)

// Decision is a gate decision, from custody.promotion.decided.
type Decision struct {
	RequestID          string
	Digest             string
	Image              string
	Destination        string
	Verdict            Verdict
	Reasons            []string
	PolicyName         string
	PolicyDigest       string
	AttestationDigests []string
	DecidedAt          time.Time
	// EventID is the decision event's id; the record's key.
	EventID string
}

// PromotionStatusValue is where a promotion stands.
type PromotionStatusValue string

// Promotion statuses, in the order they are reached.
const (
	PromotionRequested PromotionStatusValue = "requested"
	PromotionAllowed   PromotionStatusValue = "allowed"
	PromotionDenied    PromotionStatusValue = "denied"
	PromotionCompleted PromotionStatusValue = "completed"
	PromotionFailed    PromotionStatusValue = "failed"
)

// Rank orders statuses: an update never moves a promotion to a lower rank. Unknown
// statuses rank 0.
func (s PromotionStatusValue) Rank() int {
	switch s {
	case PromotionRequested:
		return 1
	case PromotionAllowed, PromotionDenied:
		return 2
	case PromotionCompleted, PromotionFailed:
		return 3
	}
	return 0
}

// Promotion is a request to promote an artifact, as it stands.
type Promotion struct {
	RequestID   string
	Digest      string
	SourceImage string
	Destination string
	RequestedBy string
	Status      PromotionStatusValue
	// DestinationImage is the destination reference pinned by digest, once completed.
	DestinationImage string
	// Error says why the promotion failed.
	Error       string
	RequestedAt time.Time
	DecidedAt   time.Time
	FinishedAt  time.Time
	// UpdatedAt is when the Store last changed the row.
	UpdatedAt time.Time
}

// Provenance is everything the ledger knows about one artifact digest.
type Provenance struct {
	Digest string
	// Build is the first recorded build of the digest; nil when none is.
	Build        *Build
	Attestations []Attestation
	Scans        []Scan
	Decisions    []Decision
	Promotions   []Promotion
	// Timeline is the history of events about the digest, ordered by time, then
	// stream sequence.
	Timeline []Event
}

// Image returns the best-known image reference for the artifact: the build's, else the
// first attestation's, scan's or promotion's source image; empty when none names one.
func (p *Provenance) Image() string {
	if p.Build != nil && p.Build.Image != "" {
		return p.Build.Image
	}
	for _, a := range p.Attestations {
		if a.Image != "" {
			return a.Image
		}
	}
	for _, s := range p.Scans {
		if s.Image != "" {
			return s.Image
		}
	}
	for _, pr := range p.Promotions {
		if pr.SourceImage != "" {
			return pr.SourceImage
		}
	}
	return ""
}

// PromotionState is a promotion and the decision that governs it.
type PromotionState struct {
	Promotion Promotion
	// Decision is the latest decision for the request; nil before the gate decided.
	Decision *Decision
}

// RecordEventRequest asks to append an event to the history.
type RecordEventRequest struct{ Event Event }

// RecordEventResponse reports whether the event was new.
type RecordEventResponse struct{ Inserted bool }

// PutBuildRequest asks to record a build.
type PutBuildRequest struct{ Build Build }

// PutBuildResponse reports whether the build was new.
type PutBuildResponse struct{ Inserted bool }

// PutAttestationRequest asks to record a verified attestation. RecordedAt may be zero
// (the Store sets it).
type PutAttestationRequest struct{ Attestation Attestation }

// PutAttestationResponse reports whether the attestation was new, and the record as
// stored (the first one, when it was not).
type PutAttestationResponse struct {
	Inserted    bool
	Attestation Attestation
}

// PutScanRequest asks to record a scan.
type PutScanRequest struct{ Scan Scan }

// PutScanResponse reports whether the scan was new.
type PutScanResponse struct{ Inserted bool }

// PutDecisionRequest asks to record a gate decision.
type PutDecisionRequest struct{ Decision Decision }

// PutDecisionResponse reports whether the decision was new.
type PutDecisionResponse struct{ Inserted bool }

// UpdatePromotionRequest carries what one event says about a promotion. Status is
// required; zero times and empty strings mean "not known from this event".
type UpdatePromotionRequest struct{ Promotion Promotion }

// UpdatePromotionResponse reports what the update did and the row as it now stands.
type UpdatePromotionResponse struct {
	// Inserted: the row did not exist before.
	Inserted bool
	// Changed: the row differs from before (always true when Inserted).
	Changed   bool
	Promotion Promotion
}

// LogEntry is one entry of the append-only log (see pkg/tlog).
type LogEntry struct {
	Index int64
	// Kind says what the entry records ("attestation", "decision"); with Key, what it is
	// idempotent on.
	Kind string
	Key  string
	// Entry is the logged content, canonical JSON; LeafHash is tlog.LeafHash(Entry) as
	// computed when the entry was appended.
	Entry     []byte
	LeafHash  []byte
	CreatedAt time.Time
}

// AppendLogRequest asks to append Entry to the log under (Kind, Key).
type AppendLogRequest struct {
	Kind  string
	Key   string
	Entry []byte
}

// AppendLogResponse reports the entry's index and whether it was new.
type AppendLogResponse struct {
	Index    int64
	Inserted bool
}

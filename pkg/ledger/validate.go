package ledger

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on what the ledger stores. Events are bounded at the bus; these keep one bad
// event from bloating the database.
const (
	// MaxPayload bounds an event's raw payload.
	MaxPayload = 1 << 20
	// MaxText bounds identifiers, references and names.
	MaxText = 4096
	// MaxLongText bounds free text (scan details, errors, dead-letter reasons).
	MaxLongText = 16 << 10
	// MaxListItems bounds reasons, key ids and attestation digests.
	MaxListItems = 1024
	// MaxLogEntry bounds one log entry.
	MaxLogEntry = 64 << 10
	// MaxLogPage bounds how many log entries one LogEntries call returns.
	MaxLogPage = 1000
)

var (
	digestRE  = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	traceIDRE = regexp.MustCompile(`^[a-f0-9]{32}$`)
)

// ValidDigest reports whether d is sha256:<64 lowercase hex>.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

// CheckDigest returns an ErrInvalid error naming what when d is not a valid digest.
func CheckDigest(what, d string) error {
	if !ValidDigest(d) {
		return fmt.Errorf("%w: %s %q is not sha256:<64 lowercase hex>", ErrInvalid, what, truncate(d))
	}
	return nil
}

var logKindRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r AppendLogRequest) Validate() error {
	var v validator
	if !logKindRE.MatchString(r.Kind) {
		v.fail("log kind %q must be 1-64 lowercase letters, digits, '_', '.', '-'", truncate(r.Kind))
	}
	v.required("log key", r.Key)
	v.text("log key", r.Key, 512)
	if len(r.Entry) == 0 || len(r.Entry) > MaxLogEntry {
		v.fail("log entry is %d bytes, want 1-%d", len(r.Entry), MaxLogEntry)
	}
	return v.err()
}

// CheckLogRange returns an ErrInvalid error unless 0 <= start <= end and the range is
// at most MaxLogPage entries.
func CheckLogRange(start, end int64) error {
	if start < 0 || end < start || end-start > MaxLogPage {
		return fmt.Errorf("%w: log range [%d, %d) must have 0 <= start <= end and at most %d entries", ErrInvalid, start, end, MaxLogPage)
	}
	return nil
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r RecordEventRequest) Validate() error {
	e := r.Event
	var v validator
	v.required("event id", e.ID)
	v.text("event id", e.ID, 512)
	v.required("event type", e.Type)
	v.text("event type", e.Type, MaxText)
	v.text("event source", e.Source, MaxText)
	v.optDigest("event subject", e.Subject)
	v.text("event NATS subject", e.NATSSubject, MaxText)
	v.time("event time", e.Time.IsZero())
	v.timeRange("event time", e.Time)
	if e.TraceID != "" && !traceIDRE.MatchString(e.TraceID) {
		v.fail("event trace id %q is not 32 lowercase hex", truncate(e.TraceID))
	}
	if e.StreamSequence > math.MaxInt64 {
		v.fail("event stream sequence %d is out of range", e.StreamSequence)
	}
	if len(e.Payload) > MaxPayload {
		v.fail("event payload of %d bytes exceeds %d", len(e.Payload), MaxPayload)
	}
	if d := e.DeadLetter; d != nil {
		v.text("dead-letter consumer", d.Consumer, MaxText)
		v.text("dead-letter reason", d.Reason, MaxLongText)
		v.text("dead-letter original id", d.OriginalID, 512)
		v.text("dead-letter original subject", d.OriginalSubject, MaxText)
		if d.OriginalSequence > math.MaxInt64 || d.Attempts > math.MaxInt64 {
			v.fail("dead-letter sequence or attempts out of range")
		}
	}
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r PutBuildRequest) Validate() error {
	b := r.Build
	var v validator
	v.digest("build digest", b.Digest)
	v.required("build event id", b.EventID)
	v.text("build event id", b.EventID, 512)
	for _, f := range []struct{ name, val string }{
		{"build image", b.Image}, {"build source repository", b.SourceRepository},
		{"build source ref", b.SourceRef}, {"build commit", b.Commit}, {"build builder id", b.BuilderID},
		{"build type", b.BuildType}, {"build invocation id", b.InvocationID},
	} {
		v.text(f.name, f.val, MaxText)
	}
	v.timeRange("build start", b.StartedAt)
	v.timeRange("build finish", b.FinishedAt)
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r PutAttestationRequest) Validate() error {
	a := r.Attestation
	var v validator
	v.digest("attestation envelope digest", a.EnvelopeDigest)
	v.digest("attestation subject digest", a.SubjectDigest)
	v.optDigest("attestation envelope blob digest", a.Envelope.Digest)
	v.required("attestation predicate type", a.PredicateType)
	v.text("attestation predicate type", a.PredicateType, MaxText)
	v.text("attestation image", a.Image, MaxText)
	v.text("attestation envelope media type", a.Envelope.MediaType, MaxText)
	v.text("attestation attachment", a.Attachment, MaxText)
	v.text("attestation event id", a.EventID, 512)
	v.timeRange("attestation recorded time", a.RecordedAt)
	if a.Envelope.Size < 0 {
		v.fail("attestation envelope size %d is negative", a.Envelope.Size)
	}
	if len(a.KeyIDs) == 0 {
		v.fail("attestation has no verified key ids: record only verified attestations")
	}
	v.list("attestation key id", a.KeyIDs, MaxText)
	for _, k := range a.KeyIDs {
		if k == "" {
			v.fail("attestation key id is empty")
			break
		}
	}
	if a.LogIndex < -1 {
		v.fail("attestation log index %d: use -1 for none", a.LogIndex)
	}
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r PutScanRequest) Validate() error {
	s := r.Scan
	var v validator
	v.digest("scan digest", s.Digest)
	v.required("scan event id", s.EventID)
	v.text("scan event id", s.EventID, 512)
	v.optDigest("scan SBOM digest", s.SBOMDigest)
	switch s.Status {
	case ScanUnspecified, ScanComplete, ScanIncomplete, ScanFailed:
	default:
		v.fail("scan status %q: use unspecified, complete, incomplete or failed", truncate(string(s.Status)))
	}
	if s.PackageCount < 0 {
		v.fail("scan package count %d is negative", s.PackageCount)
	}
	v.text("scan image", s.Image, MaxText)
	v.text("scan detail", s.Detail, MaxLongText)
	v.text("scan scanner", s.Scanner, MaxText)
	v.text("scan build event id", s.BuildEventID, 512)
	v.timeRange("scan time", s.ScannedAt)
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r PutDecisionRequest) Validate() error {
	d := r.Decision
	var v validator
	v.required("decision request id", d.RequestID)
	v.text("decision request id", d.RequestID, 512)
	v.digest("decision digest", d.Digest)
	v.required("decision event id", d.EventID)
	v.text("decision event id", d.EventID, 512)
	if d.Verdict != Allowed && d.Verdict != Denied {
		v.fail("decision verdict %q: use allowed or denied", truncate(string(d.Verdict)))
	}
	v.text("decision image", d.Image, MaxText)
	v.text("decision destination", d.Destination, MaxText)
	v.text("decision policy name", d.PolicyName, MaxText)
	v.optDigest("decision policy digest", d.PolicyDigest)
	v.list("decision reason", d.Reasons, MaxText)
	if len(d.AttestationDigests) > MaxListItems {
		v.fail("decision has %d attestation digests, more than %d", len(d.AttestationDigests), MaxListItems)
	} else {
		for _, a := range d.AttestationDigests {
			v.digest("decision attestation digest", a)
		}
	}
	v.time("decision time", d.DecidedAt.IsZero())
	v.timeRange("decision time", d.DecidedAt)
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r UpdatePromotionRequest) Validate() error {
	p := r.Promotion
	var v validator
	v.required("promotion request id", p.RequestID)
	v.text("promotion request id", p.RequestID, 512)
	v.optDigest("promotion digest", p.Digest)
	if p.Status.Rank() == 0 {
		v.fail("promotion status %q: use requested, allowed, denied, completed or failed", truncate(string(p.Status)))
	}
	v.text("promotion source image", p.SourceImage, MaxText)
	v.text("promotion destination", p.Destination, MaxText)
	v.text("promotion requested by", p.RequestedBy, MaxText)
	v.text("promotion destination image", p.DestinationImage, MaxText)
	v.text("promotion error", p.Error, MaxLongText)
	v.timeRange("promotion request time", p.RequestedAt)
	v.timeRange("promotion decision time", p.DecidedAt)
	v.timeRange("promotion finish time", p.FinishedAt)
	return v.err()
}

// validator collects every problem with a request, so one error names them all.
type validator struct{ errs []error }

func (v *validator) fail(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(v.errs...))
}

func (v *validator) required(what, s string) {
	if s == "" {
		v.fail("%s is empty", what)
	}
}

func (v *validator) digest(what, d string) {
	if !ValidDigest(d) {
		v.fail("%s %q is not sha256:<64 lowercase hex>", what, truncate(d))
	}
}

func (v *validator) optDigest(what, d string) {
	if d != "" {
		v.digest(what, d)
	}
}

func (v *validator) time(what string, zero bool) {
	if zero {
		v.fail("%s is missing", what)
	}
}

// Times are stored as Unix nanoseconds, with 0 meaning unknown.
var (
	minTime = time.Unix(1, 0)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// timeRange checks that a known time can be stored.
func (v *validator) timeRange(what string, t time.Time) {
	if !t.IsZero() && (t.Before(minTime) || !t.Before(maxTime)) {
		v.fail("%s %s is outside 1970-2261", what, t.UTC().Format(time.RFC3339))
	}
}

// text checks that s is at most max bytes of UTF-8 without NUL bytes (which not every
// database can store).
func (v *validator) text(what, s string, max int) {
	switch {
	case len(s) > max:
		v.fail("%s is %d bytes, more than %d", what, len(s), max)
	case !utf8.ValidString(s):
		v.fail("%s is not valid UTF-8", what)
	case strings.IndexByte(s, 0) >= 0:
		v.fail("%s contains a NUL byte", what)
	}
}

func (v *validator) list(what string, items []string, max int) {
	if len(items) > MaxListItems {
		v.fail("%d %ss, more than %d", len(items), what, MaxListItems)
		return
	}
	for _, s := range items {
		v.text(what, s, max)
	}
}

// truncate shortens untrusted input quoted in an error.
func truncate(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// CheckLogKey reports what is wrong with a (kind, key) a log entry is looked up by,
// wrapping ErrInvalid: the same rules AppendLog enforces.
func CheckLogKey(kind, key string) error {
	return AppendLogRequest{Kind: kind, Key: key, Entry: []byte{0}}.Validate()
}

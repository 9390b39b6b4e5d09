package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// handle records one event: first in the history, then by type. It returns nil only
// after every write is durable; events.Permanent for input that can never be recorded
// (it is dead-lettered); any other error to have the event redelivered.
func (s *Service) handle(ctx context.Context, msg *events.Message) error {
	ev := historyEvent(msg)
	log := s.log.With("event", ev.ID, "type", msg.Type, "digest", ev.Subject, "trace_id", ev.TraceID)
	if isDeadLetter(msg.Type) {
		return s.recordDeadLetter(ctx, ev, log)
	}
	if _, err := s.store.RecordEvent(ctx, ledger.RecordEventRequest{Event: ev}); err != nil {
		return s.failure(log, "record event", err)
	}
	var err error
	switch msg.Type {
	case events.TypeBuildCompleted:
		err = s.onBuild(ctx, msg)
	case events.TypeScanCompleted:
		err = s.onScan(ctx, msg)
	case events.TypeAttestationSigned:
		err = s.onAttestation(ctx, msg, log)
	case events.TypePromotionRequested:
		err = s.onPromotionRequested(ctx, msg)
	case events.TypePromotionDecided:
		err = s.onDecision(ctx, msg)
	case events.TypePromotionCompleted:
		err = s.onPromotionCompleted(ctx, msg)
	case events.TypePromotionFailed:
		err = s.onPromotionFailed(ctx, msg)
	default:
		// custody.attestation.recorded (our own) and types this version does not know:
		// the history is the whole record.
	}
	if err != nil {
		return s.failure(log, "record "+msg.Type, err)
	}
	return nil
}

// failure classifies err: invalid or conflicting input is permanent, and so is
// anything already marked permanent; the rest (database, blob store or bus trouble) is
// retried.
func (s *Service) failure(log *slog.Logger, what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	if errors.Is(err, ledger.ErrInvalid) || errors.Is(err, ledger.ErrConflict) {
		return events.Permanent(err)
	}
	if !errors.Is(err, events.ErrPermanent) {
		log.Warn("ledger write failed; the event will be retried", "error", err)
	}
	return err
}

// recordDeadLetter records a dead-letter record in the history. It never dead-letters
// it again: a dead letter of a dead letter would come back here, for ever. What cannot
// be recorded is logged and dropped; database trouble is retried.
func (s *Service) recordDeadLetter(ctx context.Context, ev ledger.Event, log *slog.Logger) error {
	_, err := s.store.RecordEvent(ctx, ledger.RecordEventRequest{Event: ev})
	if errors.Is(err, ledger.ErrInvalid) || errors.Is(err, ledger.ErrConflict) {
		log.Error("dead-letter record cannot be recorded; dropping it", "error", err)
		return nil
	}
	if err != nil {
		log.Warn("ledger write failed; the dead-letter record will be retried", "error", err)
		return fmt.Errorf("record dead letter: %w", err)
	}
	return nil
}

func isDeadLetter(typ string) bool {
	return typ == events.TypeDeadLetter || strings.HasPrefix(typ, events.TypeDeadLetter+".")
}

// historyEvent turns a delivered message into a history entry, keeping what is valid
// of what the headers claim: a subject that is not a digest or a malformed traceparent
// is left out rather than failing the whole record.
func historyEvent(msg *events.Message) ledger.Event {
	ev := ledger.Event{
		ID: msg.ID, Type: msg.Type, Source: clean(msg.Source, ledger.MaxText), Time: msg.Time,
		NATSSubject: clean(msg.NATSSubject, ledger.MaxText), StreamSequence: msg.StreamSequence,
		Payload: msg.Data,
	}
	if ledger.ValidDigest(msg.Subject) {
		ev.Subject = msg.Subject
	}
	if msg.Header != nil {
		ev.TraceID = TraceID(msg.Header.Get("traceparent"))
	}
	if isDeadLetter(msg.Type) {
		ev.Type = events.TypeDeadLetter
		dl := &ledger.DeadLetter{OriginalID: clean(msg.ID, 512)}
		if msg.Header != nil {
			dl.Consumer = clean(msg.Header.Get(events.HeaderDLQConsumer), ledger.MaxText)
			dl.Reason = clean(msg.Header.Get(events.HeaderDLQReason), ledger.MaxLongText)
			dl.OriginalSubject = clean(msg.Header.Get(events.HeaderDLQSubject), ledger.MaxText)
			dl.OriginalSequence, _ = strconv.ParseUint(msg.Header.Get(events.HeaderDLQSequence), 10, 63)
			dl.Attempts, _ = strconv.ParseUint(msg.Header.Get(events.HeaderDLQAttempts), 10, 63)
		}
		ev.DeadLetter = dl
		// A dead letter carries the ce-id of the event it gave up on; give the record an
		// id of its own: the stream's de-duplication id, else its position.
		id := ""
		if msg.Header != nil {
			id = msg.Header.Get(jetstream.MsgIDHeader)
		}
		if id == "" || len(id) > 256 || clean(id, 256) != id {
			id = fmt.Sprintf("dlq-%s-%d", clean(dl.Consumer, 64), msg.StreamSequence)
		}
		ev.ID = id
	}
	// A ce-time the ledger cannot store (absent, or absurd) is replaced by the time of
	// recording rather than losing the record.
	if ev.Time.Before(time.Unix(1, 0)) || ev.Time.After(time.Now().AddDate(100, 0, 0)) {
		ev.Time = time.Now()
	}
	return ev
}

// clean makes untrusted header text storable: valid UTF-8, no NUL, bounded.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// subjectDigest returns the digest an event's payload is about, refusing a payload that
// contradicts the event's ce-subject header.
func subjectDigest(msg *events.Message, payloadDigest string) (string, error) {
	if err := ledger.CheckDigest("payload digest", payloadDigest); err != nil {
		return "", err
	}
	if msg.Subject != "" && msg.Subject != payloadDigest {
		return "", fmt.Errorf("%w: ce-subject %q does not match the payload's digest %s", ledger.ErrInvalid,
			clean(msg.Subject, 100), payloadDigest)
	}
	return payloadDigest, nil
}

// digestPayload is an event payload that names the artifact it is about.
type digestPayload interface {
	proto.Message
	GetDigest() string
}

// decodeAbout decodes msg's payload into m and returns the artifact digest it names,
// checked against ce-subject.
func decodeAbout(msg *events.Message, m digestPayload) (string, error) {
	if err := msg.Decode(m); err != nil {
		return "", err
	}
	return subjectDigest(msg, m.GetDigest())
}

func (s *Service) onBuild(ctx context.Context, msg *events.Message) error {
	var b eventsv1.BuildCompleted
	digest, err := decodeAbout(msg, &b)
	if err != nil {
		return err
	}
	_, err = s.store.PutBuild(ctx, ledger.PutBuildRequest{Build: ledger.Build{
		Digest: digest, Image: b.GetImage(), SourceRepository: b.GetSourceRepository(), SourceRef: b.GetSourceRef(),
		Commit: b.GetCommit(), BuilderID: b.GetBuilderId(), BuildType: b.GetBuildType(), InvocationID: b.GetInvocationId(),
		StartedAt:  protoTime(b.GetStartedAt().AsTime(), b.GetStartedAt() != nil),
		FinishedAt: protoTime(b.GetFinishedAt().AsTime(), b.GetFinishedAt() != nil),
		EventID:    msg.ID,
	}})
	return err
}

func (s *Service) onScan(ctx context.Context, msg *events.Message) error {
	var sc eventsv1.ScanCompleted
	digest, err := decodeAbout(msg, &sc)
	if err != nil {
		return err
	}
	scan := ledger.Scan{
		Digest: digest, Image: sc.GetImage(), Status: scanStatus(sc.GetStatus()), SBOMDigest: sc.GetSbom().GetDigest(),
		PackageCount: int64(sc.GetPackageCount()), Detail: sc.GetDetail(), Scanner: sc.GetScanner(),
		BuildEventID: sc.GetBuildEventId(), ScannedAt: msg.Time, EventID: msg.ID,
	}
	if _, err := s.store.PutScan(ctx, ledger.PutScanRequest{Scan: scan}); err != nil {
		return err
	}
	return s.indexPackages(ctx, scan)
}

func scanStatus(st eventsv1.ScanStatus) ledger.ScanStatus {
	switch st {
	case eventsv1.ScanStatus_SCAN_STATUS_COMPLETE:
		return ledger.ScanComplete
	case eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE:
		return ledger.ScanIncomplete
	case eventsv1.ScanStatus_SCAN_STATUS_FAILED:
		return ledger.ScanFailed
	}
	return ledger.ScanUnspecified
}

// onAttestation fetches the envelope the event names, verifies it against the artifact
// digest with the trusted keys, records it, and announces it. Nothing the event says
// about signers or predicate is believed; only the verified envelope counts.
func (s *Service) onAttestation(ctx context.Context, msg *events.Message, log *slog.Logger) error {
	var a eventsv1.AttestationSigned
	digest, err := decodeAbout(msg, &a)
	if err != nil {
		return err
	}
	envDigest := a.GetEnvelope().GetDigest()
	if err := ledger.CheckDigest("envelope digest", envDigest); err != nil {
		return err
	}
	envelope, err := s.blobs.Get(ctx, envDigest)
	switch {
	case errors.Is(err, blob.ErrCorrupt):
		return events.Permanent(fmt.Errorf("fetch envelope: %w", err))
	case err != nil:
		// Not found yet, or the blob store is unreachable: worth another try.
		return fmt.Errorf("fetch envelope: %w", err)
	}
	res, err := s.verifier.Verify(ctx, envelope, digest, verify.SignedAt(signedAt(msg.Time, time.Now())))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("verify envelope %s: %w", envDigest, err)
		}
		log.Error("attestation rejected: envelope does not verify; not recorded",
			"envelope", envDigest, "claimed_key_id", clean(a.GetKeyId(), 128), "error", err)
		return events.Permanent(fmt.Errorf("verify envelope %s for %s: %w", envDigest, digest, err))
	}
	if a.GetPredicateType() != res.PredicateType {
		log.Warn("attestation event names a different predicate type than its verified statement; recording the statement's",
			"envelope", envDigest, "claimed", clean(a.GetPredicateType(), 256), "verified", res.PredicateType)
	}
	req := ledger.PutAttestationRequest{Attestation: ledger.Attestation{
		EnvelopeDigest: res.EnvelopeDigest, SubjectDigest: digest, Image: a.GetImage(), PredicateType: res.PredicateType,
		KeyIDs: res.KeyIDs, Envelope: ledger.Blob{
			Digest: envDigest, MediaType: a.GetEnvelope().GetMediaType(), Size: int64(len(envelope)),
		},
		Attachment: a.GetAttachment(), EventID: msg.ID, LogIndex: -1,
	}}
	if err := req.Validate(); err != nil {
		return err
	}
	// Log first, then store with the index: a redelivery after a crash in between gets
	// the same index back from the idempotent append.
	if req.Attestation.LogIndex, err = s.logAttestation(ctx, req.Attestation); err != nil {
		return err
	}
	put, err := s.store.PutAttestation(ctx, req)
	if err != nil {
		return err
	}
	// Announce from the stored record, so a redelivery publishes identical content,
	// which the stream de-duplicates.
	rec := put.Attestation
	if _, err := s.bus.Publish(ctx, events.Event{
		Type: events.TypeAttestationRecorded, Subject: digest,
		Data: &eventsv1.AttestationRecorded{
			Image: rec.Image, Digest: digest, PredicateType: rec.PredicateType,
			Envelope: &eventsv1.BlobRef{Digest: rec.Envelope.Digest, MediaType: rec.Envelope.MediaType, Size: rec.Envelope.Size},
			KeyIds:   rec.KeyIDs, LogIndex: rec.LogIndex,
		},
	}); err != nil {
		return fmt.Errorf("announce recorded attestation: %w", err)
	}
	return nil
}

func (s *Service) onPromotionRequested(ctx context.Context, msg *events.Message) error {
	var p eventsv1.PromotionRequested
	digest, err := decodeAbout(msg, &p)
	if err != nil {
		return err
	}
	_, err = s.store.UpdatePromotion(ctx, ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
		RequestID: p.GetRequestId(), Digest: digest, SourceImage: p.GetImage(), Destination: p.GetDestination(),
		RequestedBy: p.GetRequestedBy(), Status: ledger.PromotionRequested, RequestedAt: msg.Time,
	}})
	return err
}

func (s *Service) onDecision(ctx context.Context, msg *events.Message) error {
	var d eventsv1.PromotionDecided
	digest, err := decodeAbout(msg, &d)
	if err != nil {
		return err
	}
	if s.decisions != nil {
		if err := s.checkDecisionVSA(ctx, digest, &d); err != nil {
			if ctx.Err() != nil {
				return err
			}
			s.log.ErrorContext(ctx, "decision refused: its VSA does not check out; not recorded",
				"request_id", clean(d.GetRequestId(), 128), "digest", digest, "error", err)
			return events.Permanent(fmt.Errorf("decision for request %s: %w", clean(d.GetRequestId(), 128), err))
		}
	}
	// Anything but an explicit allowance is a denial.
	verdict, status := ledger.Denied, ledger.PromotionDenied
	if d.GetDecision() == eventsv1.Decision_DECISION_ALLOWED {
		verdict, status = ledger.Allowed, ledger.PromotionAllowed
	}
	decided := protoTime(d.GetDecidedAt().AsTime(), d.GetDecidedAt() != nil)
	if decided.IsZero() {
		decided = msg.Time
	}
	req := ledger.PutDecisionRequest{Decision: ledger.Decision{
		RequestID: d.GetRequestId(), Digest: digest, Image: d.GetImage(), Destination: d.GetDestination(),
		Verdict: verdict, Reasons: d.GetReasons(), PolicyName: d.GetPolicyName(), PolicyDigest: d.GetPolicyDigest(),
		AttestationDigests: d.GetAttestationDigests(), DecidedAt: decided, EventID: msg.ID,
	}}
	if err := req.Validate(); err != nil {
		return err
	}
	if _, err := s.logDecision(ctx, req.Decision); err != nil {
		return err
	}
	if _, err := s.store.PutDecision(ctx, req); err != nil {
		return err
	}
	_, err = s.store.UpdatePromotion(ctx, ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
		RequestID: d.GetRequestId(), Digest: digest, SourceImage: d.GetImage(), Destination: d.GetDestination(),
		Status: status, DecidedAt: decided,
	}})
	return err
}

func (s *Service) onPromotionCompleted(ctx context.Context, msg *events.Message) error {
	var p eventsv1.PromotionCompleted
	digest, err := decodeAbout(msg, &p)
	if err != nil {
		return err
	}
	_, err = s.store.UpdatePromotion(ctx, ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
		RequestID: p.GetRequestId(), Digest: digest, SourceImage: p.GetImage(), Destination: p.GetDestination(),
		Status: ledger.PromotionCompleted, DestinationImage: p.GetDestinationImage(), FinishedAt: msg.Time,
	}})
	return err
}

func (s *Service) onPromotionFailed(ctx context.Context, msg *events.Message) error {
	var p eventsv1.PromotionFailed
	digest, err := decodeAbout(msg, &p)
	if err != nil {
		return err
	}
	_, err = s.store.UpdatePromotion(ctx, ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
		RequestID: p.GetRequestId(), Digest: digest, SourceImage: p.GetImage(), Destination: p.GetDestination(),
		Status: ledger.PromotionFailed, Error: clean(p.GetError(), ledger.MaxLongText), FinishedAt: msg.Time,
	}})
	return err
}

// signedAt is the time an attestation's envelope is taken to have been signed, at which
// the trusted keys' validity windows are checked: DSSE carries no signed time, so the
// AttestationSigned event's ce-time stands for it, but never later than the ledger's own
// receipt (now). A ce-time in the future therefore cannot reach a key whose window has
// not opened yet; a ce-time in the past is believed, which is what lets evidence signed
// before a rotation still verify after it. A missing ce-time means now.
func signedAt(eventTime, now time.Time) time.Time {
	if eventTime.IsZero() || eventTime.After(now) {
		return now
	}
	return eventTime
}

// protoTime keeps a timestamp only when the event set one.
func protoTime(t time.Time, set bool) time.Time {
	if !set {
		return time.Time{}
	}
	return t
}

// checkDecisionVSA verifies a decision's VSA with the decision keys and checks that it
// records the verdict, request, destination, policy and evidence the event states.
func (s *Service) checkDecisionVSA(ctx context.Context, digest string, d *eventsv1.PromotionDecided) error {
	ref := d.GetVsa().GetDigest()
	if ref == "" {
		return errors.New("the decision carries no VSA: only the gate's signed decisions are recorded")
	}
	if err := ledger.CheckDigest("VSA digest", ref); err != nil {
		return err
	}
	env, err := s.blobs.Get(ctx, ref)
	if err != nil {
		return fmt.Errorf("fetch VSA %s: %w", ref, err)
	}
	res, err := s.decisions.Verify(ctx, env, digest)
	if err != nil {
		return fmt.Errorf("VSA %s is not signed by a decision key: %w", ref, err)
	}
	vsa, err := attestation.ParseVSA(res.Payload)
	if err != nil {
		return fmt.Errorf("VSA %s: %w", ref, err)
	}
	allowed := d.GetDecision() == eventsv1.Decision_DECISION_ALLOWED
	want, got := slices.Sorted(slices.Values(d.GetAttestationDigests())), slices.Sorted(slices.Values(vsa.InputAttestations))
	switch {
	case vsa.Passed != allowed:
		return fmt.Errorf("VSA %s records passed=%v, the event %s", ref, vsa.Passed, d.GetDecision())
	case vsa.Decision.RequestID != d.GetRequestId() || vsa.Decision.Destination != d.GetDestination():
		return fmt.Errorf("VSA %s decides request %.80q for %.200q, not the event's", ref, vsa.Decision.RequestID, vsa.Decision.Destination)
	case vsa.PolicyDigest != d.GetPolicyDigest():
		return fmt.Errorf("VSA %s names policy digest %s, the event %.80q", ref, vsa.PolicyDigest, d.GetPolicyDigest())
	case !slices.Equal(want, got):
		return fmt.Errorf("VSA %s relied on other attestations than the event lists", ref)
	}
	return nil
}

package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// handleBatch records a batch of events in three steps: prepare each (decode it and,
// for signed attestations and decisions, fetch and verify what it names: concurrently,
// and outside any transaction), write them all in one database transaction (each event
// in a savepoint of its own: its history entry, then what it records), and announce
// the attestations recorded. It returns one outcome per event: nil only once every
// write is durable; events.Permanent for input that can never be recorded (it is
// dead-lettered; its history entry is still kept); any other error to have the event
// redelivered, which is harmless because every write is idempotent.
func (s *Service) handleBatch(ctx context.Context, msgs []*events.Message) []error {
	items := make([]*item, len(msgs))
	s.prepareAll(ctx, msgs, items)

	errs := make([]error, len(msgs))
	written, err := s.commit.write(ctx, items)
	if err != nil {
		for i, it := range items {
			errs[i] = s.failure(it.log, "record "+it.msg.Type, err)
		}
		return errs
	}
	var historyOnly []*item
	for i, it := range items {
		err := written[i]
		if err == nil {
			err = it.prepared
		}
		if err == nil {
			continue
		}
		errs[i] = s.failure(it.log, "record "+it.msg.Type, err)
		if errors.Is(errs[i], events.ErrPermanent) && !it.deadLetter {
			historyOnly = append(historyOnly, it)
		}
	}
	// A refused event is still part of the history: record just its entry.
	if len(historyOnly) > 0 {
		if _, err := s.store.WriteBatch(ctx, ledger.WriteBatchRequest{Items: len(historyOnly), Write: func(ctx context.Context, i int, w ledger.Writer) error {
			_, err := w.RecordEvent(ctx, ledger.RecordEventRequest{Event: historyOnly[i].ev})
			return err
		}}); err != nil {
			s.log.WarnContext(ctx, "could not record refused events in the history", "events", len(historyOnly), "error", err)
		}
	}
	s.announce(ctx, items, errs)
	for i, it := range items {
		if errs[i] == nil && it.after != nil {
			if err := it.after(events.MessageContext(ctx, it.msg)); err != nil {
				errs[i] = s.failure(it.log, "record "+it.msg.Type, err)
			}
		}
	}
	return errs
}

// item is one event of a batch on its way through handleBatch.
type item struct {
	msg *events.Message
	ev  ledger.Event
	log *slog.Logger
	// deadLetter: a dead-letter record, which is never dead-lettered again.
	deadLetter bool
	// prepared is why the event cannot be recorded, found while preparing it; only
	// its history entry is then written.
	prepared error
	// record writes what the event records, after its history entry; nil for events
	// the history records whole.
	record func(ctx context.Context, w ledger.Writer) error
	// recorded is the attestation as stored, to announce once the batch commits.
	recorded *ledger.Attestation
	// after runs once the batch has committed the item (a scan's package inventory).
	after func(ctx context.Context) error
}

// write records the item's history entry and what it records, in the batch's
// transaction.
func (it *item) write(ctx context.Context, w ledger.Writer) error {
	if it.prepared != nil {
		if errors.Is(it.prepared, events.ErrPermanent) {
			// Written by the history-only pass, after the batch.
			return nil
		}
		// Worth another try (the envelope not found yet, say): record nothing now.
		return nil
	}
	_, err := w.RecordEvent(ctx, ledger.RecordEventRequest{Event: it.ev})
	if err != nil {
		if it.deadLetter {
			return deadLetterWriteError(err)
		}
		return fmt.Errorf("record event: %w", err)
	}
	if it.record != nil {
		return it.record(ctx, w)
	}
	return nil
}

// prepareAll prepares every message: the cheap ones in turn, those that fetch and
// verify (signed attestations, decisions) concurrently.
func (s *Service) prepareAll(ctx context.Context, msgs []*events.Message, items []*item) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.verifyConcurrency)
	for i, msg := range msgs {
		ev := historyEvent(msg)
		it := &item{msg: msg, ev: ev, deadLetter: isDeadLetter(msg.Type),
			log: s.log.With("event", ev.ID, "type", msg.Type, "digest", ev.Subject, "trace_id", ev.TraceID)}
		items[i] = it
		switch msg.Type {
		case events.TypeAttestationSigned, events.TypePromotionDecided:
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				s.prepare(events.MessageContext(ctx, msg), it)
			}()
		default:
			s.prepare(ctx, it)
		}
	}
	wg.Wait()
}

// prepare decodes it's event and sets what recording it writes (or why it cannot).
func (s *Service) prepare(ctx context.Context, it *item) {
	msg := it.msg
	if it.deadLetter {
		return
	}
	var err error
	switch msg.Type {
	case events.TypeBuildCompleted:
		it.record, err = prepareBuild(msg)
	case events.TypeScanCompleted:
		it.record, err = s.prepareScan(it)
	case events.TypeAttestationSigned:
		it.record, err = s.prepareAttestation(ctx, it)
	case events.TypePromotionRequested:
		it.record, err = preparePromotionRequested(msg)
	case events.TypePromotionDecided:
		it.record, err = s.prepareDecision(ctx, msg)
	case events.TypePromotionCompleted:
		it.record, err = preparePromotionCompleted(msg)
	case events.TypePromotionFailed:
		it.record, err = preparePromotionFailed(msg)
	default:
		// custody.attestation.recorded (our own) and types this version does not know:
		// the history is the whole record.
	}
	it.prepared = err
}

// failure classifies err: invalid or conflicting input is permanent, and so is
// anything already marked permanent; the rest (database, blob store or bus trouble) is
// retried. A dead-letter record's failure is never permanent: what cannot be recorded
// of it is logged and dropped (it would come back here if dead-lettered again).
func (s *Service) failure(log *slog.Logger, what string, err error) error {
	if errors.Is(err, errDeadLetterDropped) {
		log.Error("dead-letter record cannot be recorded; dropping it", "error", err)
		return nil
	}
	err = fmt.Errorf("%s: %w", what, err)
	if errors.Is(err, ledger.ErrInvalid) || errors.Is(err, ledger.ErrConflict) {
		return events.Permanent(err)
	}
	if !errors.Is(err, events.ErrPermanent) {
		log.Warn("ledger write failed; the event will be retried", "error", err)
	}
	return err
}

// errDeadLetterDropped marks a dead-letter record the store refuses for good.
var errDeadLetterDropped = errors.New("dead-letter record refused")

// deadLetterWriteError turns a refusal of a dead-letter record into errDeadLetterDropped
// and leaves database trouble to be retried.
func deadLetterWriteError(err error) error {
	if errors.Is(err, ledger.ErrInvalid) || errors.Is(err, ledger.ErrConflict) {
		return fmt.Errorf("%w: %w", errDeadLetterDropped, err)
	}
	return fmt.Errorf("record dead letter: %w", err)
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

func prepareBuild(msg *events.Message) (func(context.Context, ledger.Writer) error, error) {
	var b eventsv1.BuildCompleted
	digest, err := decodeAbout(msg, &b)
	if err != nil {
		return nil, err
	}
	req := ledger.PutBuildRequest{Build: ledger.Build{
		Digest: digest, Image: b.GetImage(), SourceRepository: b.GetSourceRepository(), SourceRef: b.GetSourceRef(),
		Commit: b.GetCommit(), BuilderID: b.GetBuilderId(), BuildType: b.GetBuildType(), InvocationID: b.GetInvocationId(),
		StartedAt:  protoTime(b.GetStartedAt().AsTime(), b.GetStartedAt() != nil),
		FinishedAt: protoTime(b.GetFinishedAt().AsTime(), b.GetFinishedAt() != nil),
		EventID:    msg.ID,
	}}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, w ledger.Writer) error {
		_, err := w.PutBuild(ctx, req)
		return err
	}, nil
}

func (s *Service) prepareScan(it *item) (func(context.Context, ledger.Writer) error, error) {
	msg := it.msg
	var sc eventsv1.ScanCompleted
	digest, err := decodeAbout(msg, &sc)
	if err != nil {
		return nil, err
	}
	req := ledger.PutScanRequest{Scan: ledger.Scan{
		Digest: digest, Image: sc.GetImage(), Status: scanStatus(sc.GetStatus()), SBOMDigest: sc.GetSbom().GetDigest(),
		PackageCount: int64(sc.GetPackageCount()), Detail: sc.GetDetail(), Scanner: sc.GetScanner(),
		BuildEventID: sc.GetBuildEventId(), ScannedAt: msg.Time, EventID: msg.ID,
	}}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	// Once the scan is recorded, its SBOM's packages are indexed (inventory.go), in a
	// transaction of its own: the scan stays recorded whatever happens to its inventory.
	it.after = func(ctx context.Context) error { return s.indexPackages(ctx, req.Scan) }
	return func(ctx context.Context, w ledger.Writer) error {
		_, err := w.PutScan(ctx, req)
		return err
	}, nil
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

// prepareAttestation fetches the envelope the event names and verifies it against the
// artifact digest with the trusted keys; recording appends it to the log and stores it
// with its index. Nothing the event says about signers or predicate is believed; only
// the verified envelope counts.
func (s *Service) prepareAttestation(ctx context.Context, it *item) (func(context.Context, ledger.Writer) error, error) {
	msg, log := it.msg, it.log
	var a eventsv1.AttestationSigned
	digest, err := decodeAbout(msg, &a)
	if err != nil {
		return nil, err
	}
	envDigest := a.GetEnvelope().GetDigest()
	if err := ledger.CheckDigest("envelope digest", envDigest); err != nil {
		return nil, err
	}
	envelope, err := s.blobs.Get(ctx, envDigest)
	switch {
	case errors.Is(err, blob.ErrCorrupt):
		return nil, events.Permanent(fmt.Errorf("fetch envelope: %w", err))
	case err != nil:
		// Not found yet, or the blob store is unreachable: worth another try.
		return nil, fmt.Errorf("fetch envelope: %w", err)
	}
	res, err := s.verifier.Verify(ctx, envelope, digest, verify.SignedAt(signedAt(msg.Time, time.Now())))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("verify envelope %s: %w", envDigest, err)
		}
		log.Error("attestation rejected: envelope does not verify; not recorded",
			"envelope", envDigest, "claimed_key_id", clean(a.GetKeyId(), 128), "error", err)
		return nil, events.Permanent(fmt.Errorf("verify envelope %s for %s: %w", envDigest, digest, err))
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
		return nil, err
	}
	entry, err := attestationLogEntry(req.Attestation)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, w ledger.Writer) error {
		// The log entry and the record commit together; a redelivery gets the same
		// index back from the idempotent append.
		lr, err := w.AppendLog(ctx, entry)
		if err != nil {
			return fmt.Errorf("append attestation to the log: %w", err)
		}
		req := req
		req.Attestation.LogIndex = lr.Index
		put, err := w.PutAttestation(ctx, req)
		if err != nil {
			return err
		}
		it.recorded = &put.Attestation
		return nil
	}, nil
}

// announce publishes custody.attestation.recorded for every attestation the batch
// recorded, all at once, and marks an event whose announcement failed for redelivery
// (its records are idempotent; the announcement is made from the stored record, so a
// redelivery publishes identical content, which the stream de-duplicates).
func (s *Service) announce(ctx context.Context, items []*item, errs []error) {
	pending := make([]*events.Pending, len(items))
	for i, it := range items {
		if errs[i] != nil || it.recorded == nil {
			continue
		}
		rec := it.recorded
		p, err := s.bus.PublishAsync(events.MessageContext(ctx, it.msg), events.Event{
			Type: events.TypeAttestationRecorded, Subject: rec.SubjectDigest,
			Data: &eventsv1.AttestationRecorded{
				Image: rec.Image, Digest: rec.SubjectDigest, PredicateType: rec.PredicateType,
				Envelope: &eventsv1.BlobRef{Digest: rec.Envelope.Digest, MediaType: rec.Envelope.MediaType, Size: rec.Envelope.Size},
				KeyIds:   rec.KeyIDs, LogIndex: rec.LogIndex,
			},
		})
		if err != nil {
			errs[i] = s.failure(it.log, "announce recorded attestation", err)
			continue
		}
		pending[i] = p
	}
	for i, p := range pending {
		if p == nil {
			continue
		}
		if _, err := p.Wait(ctx); err != nil {
			errs[i] = s.failure(items[i].log, "announce recorded attestation", err)
		}
	}
}

func preparePromotionRequested(msg *events.Message) (func(context.Context, ledger.Writer) error, error) {
	var p eventsv1.PromotionRequested
	digest, err := decodeAbout(msg, &p)
	if err != nil {
		return nil, err
	}
	return promotionUpdate(ledger.Promotion{
		RequestID: p.GetRequestId(), Digest: digest, SourceImage: p.GetImage(), Destination: p.GetDestination(),
		RequestedBy: p.GetRequestedBy(), Status: ledger.PromotionRequested, RequestedAt: msg.Time,
	})
}

// promotionUpdate validates an update of a promotion row and returns its write.
func promotionUpdate(p ledger.Promotion) (func(context.Context, ledger.Writer) error, error) {
	req := ledger.UpdatePromotionRequest{Promotion: p}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, w ledger.Writer) error {
		_, err := w.UpdatePromotion(ctx, req)
		return err
	}, nil
}

func (s *Service) prepareDecision(ctx context.Context, msg *events.Message) (func(context.Context, ledger.Writer) error, error) {
	var d eventsv1.PromotionDecided
	digest, err := decodeAbout(msg, &d)
	if err != nil {
		return nil, err
	}
	if s.decisions != nil {
		if err := s.checkDecisionVSA(ctx, digest, &d); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			s.log.ErrorContext(ctx, "decision refused: its VSA does not check out; not recorded",
				"request_id", clean(d.GetRequestId(), 128), "digest", digest, "error", err)
			return nil, events.Permanent(fmt.Errorf("decision for request %s: %w", clean(d.GetRequestId(), 128), err))
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
		return nil, err
	}
	entry, err := decisionLogEntry(req.Decision)
	if err != nil {
		return nil, err
	}
	update, err := promotionUpdate(ledger.Promotion{
		RequestID: d.GetRequestId(), Digest: digest, SourceImage: d.GetImage(), Destination: d.GetDestination(),
		Status: status, DecidedAt: decided,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, w ledger.Writer) error {
		if _, err := w.AppendLog(ctx, entry); err != nil {
			return fmt.Errorf("append decision to the log: %w", err)
		}
		if _, err := w.PutDecision(ctx, req); err != nil {
			return err
		}
		return update(ctx, w)
	}, nil
}

func preparePromotionCompleted(msg *events.Message) (func(context.Context, ledger.Writer) error, error) {
	var p eventsv1.PromotionCompleted
	digest, err := decodeAbout(msg, &p)
	if err != nil {
		return nil, err
	}
	return promotionUpdate(ledger.Promotion{
		RequestID: p.GetRequestId(), Digest: digest, SourceImage: p.GetImage(), Destination: p.GetDestination(),
		Status: ledger.PromotionCompleted, DestinationImage: p.GetDestinationImage(), FinishedAt: msg.Time,
	})
}

func preparePromotionFailed(msg *events.Message) (func(context.Context, ledger.Writer) error, error) {
	var p eventsv1.PromotionFailed
	digest, err := decodeAbout(msg, &p)
	if err != nil {
		return nil, err
	}
	return promotionUpdate(ledger.Promotion{
		RequestID: p.GetRequestId(), Digest: digest, SourceImage: p.GetImage(), Destination: p.GetDestination(),
		Status: ledger.PromotionFailed, Error: clean(p.GetError(), ledger.MaxLongText), FinishedAt: msg.Time,
	})
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

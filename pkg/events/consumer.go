package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// ConsumerSpec declares a durable pull consumer.
type ConsumerSpec struct {
	// Name is the durable name, also used in the dead-letter subject.
	Name string
	// Type is the event type to receive, or "custody.>" for every event.
	Type string
	// MaxDeliver is how many times a message is handed to the handler before it is
	// dead-lettered. Default 5.
	MaxDeliver int
	// Backoff is the delay before each redelivery after a transient error; the last
	// value repeats. Default 1s, 5s, 15s, 30s.
	Backoff []time.Duration
	// AckWait is how long the server waits for an ack before redelivering. While the
	// handler runs, the consumer reports progress, so long handlers are not redelivered.
	// Default 30s.
	AckWait time.Duration
	// Concurrency is how many messages are handled at once. Default 1.
	Concurrency int
	// HandlerTimeout bounds one handler call. Default 5m.
	HandlerTimeout time.Duration
	// MaxBatch is the most messages ConsumeBatch hands its handler at once: as many as
	// have arrived, up to this, so a batch is one message when traffic is light.
	// Default 64 for ConsumeBatch; Consume always hands over one.
	MaxBatch int
}

func (s ConsumerSpec) withDefaults() ConsumerSpec {
	if s.MaxDeliver == 0 {
		s.MaxDeliver = 5
	}
	if len(s.Backoff) == 0 {
		s.Backoff = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second}
	}
	if s.AckWait == 0 {
		s.AckWait = 30 * time.Second
	}
	if s.Concurrency == 0 {
		s.Concurrency = 1
	}
	if s.HandlerTimeout == 0 {
		s.HandlerTimeout = 5 * time.Minute
	}
	if s.MaxBatch == 0 {
		s.MaxBatch = 1
	}
	return s
}

func (s ConsumerSpec) validate() error {
	var errs []error
	if !streamNameRE.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("consumer name %q: use 1-64 letters, digits, '-' or '_'", s.Name))
	}
	if s.Type != typeRoot+".>" && s.Type != typeRoot && len(s.Type) <= len(typeRoot)+1 {
		errs = append(errs, fmt.Errorf("consumer %s: event type %q is not a custody.* type", s.Name, s.Type))
	}
	if s.MaxDeliver < 1 || s.MaxDeliver > 100 {
		errs = append(errs, fmt.Errorf("consumer %s: max deliver %d must be 1-100", s.Name, s.MaxDeliver))
	}
	if s.Concurrency < 1 || s.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("consumer %s: concurrency %d must be 1-256", s.Name, s.Concurrency))
	}
	if s.MaxBatch < 1 || s.MaxBatch > 1024 {
		errs = append(errs, fmt.Errorf("consumer %s: max batch %d must be 1-1024", s.Name, s.MaxBatch))
	}
	for _, d := range s.Backoff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("consumer %s: backoff delays must be positive", s.Name))
			break
		}
	}
	return errors.Join(errs...)
}

// Message is a delivered event.
type Message struct {
	ID      string
	Type    string
	Source  string
	Subject string
	Time    time.Time
	Data    []byte
	// NATSSubject is the subject the event was published on.
	NATSSubject string
	// StreamSequence is the event's position in the stream.
	StreamSequence uint64
	// Delivered counts deliveries of this message, starting at 1.
	Delivered uint64
	// Header holds every transport header, for recording.
	Header nats.Header

	// span is the consumer's span for this message (see MessageContext).
	span trace.Span
}

// MessageContext returns ctx carrying msg's trace span, so that what a batch handler
// does for one message (publishing an event, say) continues that message's trace. A
// single-message handler's ctx already carries it.
func MessageContext(ctx context.Context, msg *Message) context.Context {
	if msg == nil || msg.span == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, msg.span)
}

// Decode unmarshals the payload into m, refusing oversized or malformed payloads.
func (msg *Message) Decode(m proto.Message) error {
	if len(msg.Data) > MaxPayload {
		return Permanent(fmt.Errorf("event %s: payload of %d bytes exceeds %d", msg.ID, len(msg.Data), MaxPayload))
	}
	if err := proto.Unmarshal(msg.Data, m); err != nil {
		return Permanent(fmt.Errorf("event %s (%s): decode %s: %w", msg.ID, msg.Type, m.ProtoReflect().Descriptor().FullName(), err))
	}
	return nil
}

// Handler handles one event. Return nil only after the event's effects are durable; the
// message is then acked. Return an error wrapped with Permanent for a message that can
// never succeed (it is dead-lettered at once); any other error is retried with backoff
// until MaxDeliver, then dead-lettered.
type Handler func(ctx context.Context, msg *Message) error

// BatchHandler handles several events at once and returns one error per message, in
// order (nil for each message whose effects are durable; it is then acked), or a nil
// slice when every message succeeded. Errors mean what they mean for a Handler.
type BatchHandler func(ctx context.Context, msgs []*Message) []error

// ErrPermanent marks errors that retrying cannot fix.
var ErrPermanent = errors.New("permanent failure")

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() []error      { return []error{e.err, ErrPermanent} }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// ConsumerConfig is the JetStream declaration of spec under this bus's configuration.
func (b *Bus) ConsumerConfig(spec ConsumerSpec) (jetstream.ConsumerConfig, error) {
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	filter, err := subjectFor(b.cfg.Prefix, spec.Type)
	if err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	return jetstream.ConsumerConfig{
		Durable:       spec.Name,
		Description:   "custody " + spec.Name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       spec.AckWait,
		// One more than the handler's budget: the extra delivery dead-letters a message
		// whose last attempt crashed before it could be acked or dead-lettered.
		MaxDeliver:    spec.MaxDeliver + 1,
		FilterSubject: filter,
		MaxAckPending: max(spec.Concurrency*spec.MaxBatch*2, spec.Concurrency*4, 64),
	}, nil
}

// Consumer is a running durable consumer.
type Consumer struct {
	cc       jetstream.ConsumeContext
	queue    chan jetstream.Msg
	wg       sync.WaitGroup
	stopOnce sync.Once
	cancel   context.CancelFunc
}

// Consume creates (or updates) the durable consumer spec declares and hands its messages
// to h, one at a time in each of spec.Concurrency workers, until Shutdown.
func (b *Bus) Consume(ctx context.Context, spec ConsumerSpec, h Handler) (*Consumer, error) {
	spec.MaxBatch = 1
	return b.ConsumeBatch(ctx, spec, func(ctx context.Context, msgs []*Message) []error {
		return []error{h(ctx, msgs[0])}
	})
}

// ConsumeBatch creates (or updates) the durable consumer spec declares and hands its
// messages to h in batches of up to spec.MaxBatch (default 64), one batch at a time in
// each of spec.Concurrency workers, until Shutdown. A batch holds what has arrived when
// a worker is free, so under load a handler amortises one transaction or round trip
// over many messages and under light load waits for none.
func (b *Bus) ConsumeBatch(ctx context.Context, spec ConsumerSpec, h BatchHandler) (*Consumer, error) {
	if spec.MaxBatch == 0 {
		spec.MaxBatch = 64
	}
	spec = spec.withDefaults()
	cfg, err := b.ConsumerConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consume: create consumer %s on %s: %w", spec.Name, b.cfg.Stream, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &Consumer{cancel: cancel, queue: make(chan jetstream.Msg, spec.MaxBatch*spec.Concurrency)}
	for range spec.Concurrency {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			batch := make([]jetstream.Msg, 0, spec.MaxBatch)
			for m := range c.queue {
				if runCtx.Err() != nil {
					// Shut down past its deadline: leave what is queued to redelivery.
					_ = m.Nak()
					continue
				}
				batch = append(batch[:0], m)
			fill:
				for len(batch) < spec.MaxBatch {
					select {
					case m, ok := <-c.queue:
						if !ok {
							break fill
						}
						batch = append(batch, m)
					default:
						break fill
					}
				}
				b.handleBatch(runCtx, spec, batch, h)
			}
		}()
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		c.queue <- m
	}, jetstream.PullMaxMessages(max(spec.Concurrency*spec.MaxBatch, spec.Concurrency*2)), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("consumer pull interrupted", "consumer", spec.Name, "error", err)
		}
	}))
	if err != nil {
		close(c.queue)
		c.wg.Wait()
		cancel()
		return nil, fmt.Errorf("consume %s: %w", spec.Name, err)
	}
	c.cc = cc
	return c, nil
}

// Shutdown stops pulling, lets in-flight handlers finish (until ctx ends, when their
// contexts are cancelled and unacked messages are redelivered later), and returns. It is
// safe to call twice.
func (c *Consumer) Shutdown(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.stopOnce.Do(func() {
		c.cc.Drain()
		go func() {
			// Drain hands buffered messages to the callback before Closed fires; only
			// then can no message be queued, and the workers finish what is queued.
			<-c.cc.Closed()
			close(c.queue)
		}()
	})
	done := make(chan struct{})
	go func() {
		select {
		case <-c.cc.Closed():
		case <-ctx.Done():
			c.cancel()
			c.cc.Stop()
			<-c.cc.Closed()
		}
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		c.cancel()
		return nil
	case <-ctx.Done():
		c.cancel()
		<-done
		return fmt.Errorf("consumer shutdown: %w", ctx.Err())
	}
}

// handleBatch decodes ms, dead-letters what cannot be handled, runs h over the rest and
// settles each message by its outcome.
func (b *Bus) handleBatch(ctx context.Context, spec ConsumerSpec, ms []jetstream.Msg, h BatchHandler) {
	msgs := make([]*Message, 0, len(ms))
	live := make([]jetstream.Msg, 0, len(ms))
	for _, m := range ms {
		msg, err := b.decodeMessage(m)
		if err != nil {
			b.deadLetter(ctx, spec, m, 0, err)
			continue
		}
		mctx := b.prop.Extract(ctx, headerCarrier(m.Headers()))
		_, msg.span = b.tracer.Start(mctx, "handle "+msg.Type,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.system", "nats"),
				attribute.String("messaging.consumer.group.name", spec.Name),
				attribute.String("messaging.message.id", msg.ID),
				attribute.Int64("messaging.nats.delivered", int64(msg.Delivered)),
				attribute.Int("messaging.batch.message_count", len(ms)),
				attribute.String("custody.artifact.digest", msg.Subject),
			))
		if msg.Delivered > uint64(spec.MaxDeliver) {
			// The previous attempt ended without ack or dead letter (a crash or timeout).
			b.deadLetter(MessageContext(ctx, msg), spec, m, msg.Delivered, fmt.Errorf("no outcome after %d deliveries", spec.MaxDeliver))
			msg.span.End()
			continue
		}
		msgs = append(msgs, msg)
		live = append(live, m)
	}
	if len(msgs) == 0 {
		return
	}
	hctx := ctx
	if len(msgs) == 1 {
		hctx = MessageContext(ctx, msgs[0])
	}
	hctx, cancel := context.WithTimeout(hctx, spec.HandlerTimeout)
	stop := keepAlive(hctx, live, spec.AckWait)
	errs := h(hctx, msgs)
	stop()
	cancel()
	if errs != nil && len(errs) != len(msgs) {
		bad := fmt.Errorf("consumer %s: the handler returned %d outcomes for %d messages", spec.Name, len(errs), len(msgs))
		errs = make([]error, len(msgs))
		for i := range errs {
			errs[i] = bad
		}
	}
	for i, msg := range msgs {
		var err error
		if errs != nil {
			err = errs[i]
		}
		b.settle(MessageContext(ctx, msg), spec, live[i], msg, err)
		msg.span.End()
	}
}

// settle acks m when its handling succeeded, dead-letters it when the failure is
// permanent or its deliveries are used up, and otherwise naks it with backoff.
func (b *Bus) settle(ctx context.Context, spec ConsumerSpec, m jetstream.Msg, msg *Message, err error) {
	if err == nil {
		if aerr := m.Ack(); aerr != nil {
			b.log.Warn("ack failed; the event will be redelivered", "consumer", spec.Name, "event", msg.ID, "error", aerr)
		}
		return
	}
	msg.span.RecordError(err)
	msg.span.SetStatus(codes.Error, err.Error())
	if errors.Is(err, ErrPermanent) || msg.Delivered >= uint64(spec.MaxDeliver) {
		b.deadLetter(ctx, spec, m, msg.Delivered, err)
		return
	}
	delay := spec.Backoff[min(int(msg.Delivered)-1, len(spec.Backoff)-1)]
	b.log.Warn("event handler failed; will retry",
		"consumer", spec.Name, "event", msg.ID, "type", msg.Type, "attempt", msg.Delivered, "retry_in", delay.String(), "error", err)
	if nerr := m.NakWithDelay(delay); nerr != nil {
		b.log.Warn("nak failed", "consumer", spec.Name, "event", msg.ID, "error", nerr)
	}
}

// keepAlive tells the server the messages are still being worked on, so a long handler
// is not redelivered to another replica mid-way.
func keepAlive(ctx context.Context, ms []jetstream.Msg, ackWait time.Duration) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(ackWait / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				for _, m := range ms {
					_ = m.InProgress()
				}
			}
		}
	}()
	return func() { close(done) }
}

func (b *Bus) decodeMessage(m jetstream.Msg) (*Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("message metadata: %w", err)
	}
	hdr := m.Headers()
	msg := &Message{
		ID:             hdr.Get(HeaderID),
		Type:           hdr.Get(HeaderType),
		Source:         hdr.Get(HeaderSource),
		Subject:        hdr.Get(HeaderSubject),
		Data:           m.Data(),
		NATSSubject:    m.Subject(),
		StreamSequence: md.Sequence.Stream,
		Delivered:      md.NumDelivered,
		Header:         hdr,
	}
	if msg.ID == "" {
		return msg, fmt.Errorf("event on %s at stream sequence %d has no %s header", m.Subject(), md.Sequence.Stream, HeaderID)
	}
	want, ok := typeFor(b.cfg.Prefix, m.Subject())
	if !ok {
		return msg, fmt.Errorf("event %s: subject %s is outside prefix %s", msg.ID, m.Subject(), b.cfg.Prefix)
	}
	if msg.Type == "" {
		msg.Type = want
	} else if msg.Type != want && !(msg.Type == TypeDeadLetter && strings.HasPrefix(want, TypeDeadLetter+".")) {
		// Dead-letter records keep ce-type custody.dlq on <prefix>.dlq.<consumer>.
		return msg, fmt.Errorf("event %s: %s header %q does not match subject %s", msg.ID, HeaderType, msg.Type, m.Subject())
	}
	if ts := hdr.Get(HeaderTime); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return msg, fmt.Errorf("event %s: %s header %q is not RFC 3339", msg.ID, HeaderTime, ts)
		}
		msg.Time = t
	} else {
		msg.Time = md.Timestamp
	}
	return msg, nil
}

// deadLetter records m on the consumer's dead-letter subject, then terminates it. If the
// record cannot be written, the message is left for redelivery rather than lost.
func (b *Bus) deadLetter(ctx context.Context, spec ConsumerSpec, m jetstream.Msg, attempts uint64, cause error) {
	subj := b.cfg.DeadLetterSubject(spec.Name)
	if strings.HasPrefix(m.Subject(), b.cfg.Prefix+".dlq.") {
		// Never dead-letter a dead letter: the new record would land on a dead-letter
		// subject this consumer also reads, and loop for ever.
		b.log.Error("dead-letter record could not be handled; dropping it",
			"consumer", spec.Name, "subject", m.Subject(), "error", cause)
		if err := m.Term(); err != nil {
			b.log.Warn("term failed", "consumer", spec.Name, "subject", m.Subject(), "error", err)
		}
		return
	}
	dl := nats.NewMsg(subj)
	dl.Data = m.Data()
	for k, vs := range m.Headers() {
		if k == jetstream.MsgIDHeader {
			continue
		}
		for _, v := range vs {
			dl.Header.Add(k, v)
		}
	}
	reason := cause.Error()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	dl.Header.Set(HeaderType, TypeDeadLetter)
	dl.Header.Set(HeaderDLQReason, reason)
	dl.Header.Set(HeaderDLQConsumer, spec.Name)
	dl.Header.Set(HeaderDLQSubject, m.Subject())
	dl.Header.Set(HeaderDLQSequence, strconv.FormatUint(seq, 10))
	dl.Header.Set(HeaderDLQAttempts, strconv.FormatUint(attempts, 10))
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id := fmt.Sprintf("dlq-%s-%s-%d", b.cfg.Stream, spec.Name, seq)
	if _, err := b.js.PublishMsg(pctx, dl, jetstream.WithMsgID(id)); err != nil {
		b.log.Error("dead-letter write failed; leaving the event for redelivery",
			"consumer", spec.Name, "subject", m.Subject(), "sequence", seq, "error", err)
		_ = m.NakWithDelay(spec.Backoff[len(spec.Backoff)-1])
		return
	}
	b.log.Error("event dead-lettered", "consumer", spec.Name, "subject", m.Subject(), "sequence", seq,
		"attempts", attempts, "reason", reason, "dlq", subj)
	// Plain Term: nats-server 2.9 does not understand "+TERM <reason>"; the reason is in
	// the dead-letter record.
	if err := m.Term(); err != nil {
		b.log.Warn("term failed; the event may be delivered once more and dead-lettered again",
			"consumer", spec.Name, "sequence", seq, "error", err)
	}
}

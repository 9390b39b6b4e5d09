package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// CloudEvents binary-mode header names (NATS protocol binding) and the others Custody sets.
const (
	HeaderID          = "ce-id"
	HeaderType        = "ce-type"
	HeaderSource      = "ce-source"
	HeaderTime        = "ce-time"
	HeaderSubject     = "ce-subject"
	HeaderSpecVersion = "ce-specversion"
	HeaderContentType = "content-type"
	// HeaderDataSchema names the protobuf message in the payload.
	HeaderDataSchema = "ce-dataschema"
	// HeaderDLQReason and friends annotate dead-letter records.
	HeaderDLQReason   = "custody-dlq-reason"
	HeaderDLQConsumer = "custody-dlq-consumer"
	HeaderDLQSubject  = "custody-dlq-subject"
	HeaderDLQSequence = "custody-dlq-stream-seq"
	HeaderDLQAttempts = "custody-dlq-attempts"

	contentTypeProtobuf = "application/protobuf"
)

// MaxPayload bounds the payload a consumer will decode.
const MaxPayload = 1 << 20

// Bus publishes and consumes Custody events on one JetStream stream.
type Bus struct {
	js     jetstream.JetStream
	cfg    Config
	source string
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	log    *slog.Logger
	now    func() time.Time
}

type options struct {
	source string
	tp     trace.TracerProvider
	log    *slog.Logger
}

// Option configures a Bus.
type Option func(*options) error

// WithSource sets the CloudEvents source of published events (for example
// "custody/scanner"). Default "custody".
func WithSource(source string) Option {
	return func(o *options) error {
		if source == "" {
			return errors.New("events: empty source")
		}
		o.source = source
		return nil
	}
}

// WithTracerProvider sets where spans go. Default: otel's global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error { o.tp = tp; return nil }
}

// WithLogger sets the logger for consumer failures. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// New returns a Bus over js for the installation cfg describes.
func New(js jetstream.JetStream, cfg Config, opts ...Option) (*Bus, error) {
	if js == nil {
		return nil, errors.New("events: nil JetStream context")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	o := options{source: "custody"}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.tp == nil {
		o.tp = otel.GetTracerProvider()
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return &Bus{
		js:     js,
		cfg:    cfg.WithDefaults(),
		source: o.source,
		tracer: o.tp.Tracer("github.com/custody-dev/custody/pkg/events"),
		prop:   propagation.TraceContext{},
		log:    o.log,
		now:    time.Now,
	}, nil
}

// Config is the bus's configuration with defaults applied.
func (b *Bus) Config() Config { return b.cfg }

// JetStream is the underlying JetStream context (for the blob store).
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// EnsureStream creates the stream, or updates it to the declared configuration.
func (b *Bus) EnsureStream(ctx context.Context) error {
	if _, err := b.js.CreateOrUpdateStream(ctx, b.cfg.StreamConfig()); err != nil {
		return fmt.Errorf("ensure stream %s: %w", b.cfg.Stream, err)
	}
	return nil
}

// Event is an event to publish.
type Event struct {
	// Type is one of the Type* constants.
	Type string
	// Subject is the artifact digest the event is about (ce-subject).
	Subject string
	// ID is ce-id and Nats-Msg-Id. Empty: derived from type, subject and payload, so that
	// publishing the same content twice is de-duplicated by the stream.
	ID string
	// Data is the protobuf payload.
	Data proto.Message
}

// Published describes an event the stream accepted.
type Published struct {
	ID        string
	Sequence  uint64
	Duplicate bool
}

// Publish sends ev and waits for the stream to store it.
func (b *Bus) Publish(ctx context.Context, ev Event) (Published, error) {
	p, err := b.PublishAsync(ctx, ev)
	if err != nil {
		return Published{}, err
	}
	return p.Wait(ctx)
}

// DefaultAckWait bounds how long Publish and Pending.Wait wait for the stream's
// acknowledgement when their context sets no deadline.
const DefaultAckWait = 10 * time.Second

// Pending is an event sent to the stream whose acknowledgement has not been awaited.
type Pending struct {
	id   string
	typ  string
	ack  jetstream.PubAckFuture
	span trace.Span
}

// PublishAsync sends ev without waiting for the stream to store it. The event counts as
// published only once Wait returns without error; sending several and then waiting for
// each costs about one round trip instead of one per event.
func (b *Bus) PublishAsync(ctx context.Context, ev Event) (*Pending, error) {
	msg, span, err := b.message(ctx, &ev)
	if err != nil {
		return nil, err
	}
	ack, err := b.js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(b.cfg.Stream))
	if err != nil {
		span.RecordError(err)
		span.End()
		return nil, fmt.Errorf("publish %s: %w", ev.Type, err)
	}
	return &Pending{id: ev.ID, typ: ev.Type, ack: ack, span: span}, nil
}

// Wait waits until the stream has stored the event, or refused it, or ctx ends (without
// a deadline, at most DefaultAckWait).
func (p *Pending) Wait(ctx context.Context) (Published, error) {
	defer p.span.End()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAckWait)
		defer cancel()
	}
	select {
	case ack := <-p.ack.Ok():
		return Published{ID: p.id, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-p.ack.Err():
		p.span.RecordError(err)
		return Published{}, fmt.Errorf("publish %s: %w", p.typ, err)
	case <-ctx.Done():
		p.span.RecordError(ctx.Err())
		return Published{}, fmt.Errorf("publish %s: %w", p.typ, ctx.Err())
	}
}

// message encodes ev as a NATS message with its CloudEvents headers and trace context,
// filling in ev.ID when it is empty, and starts its producer span.
func (b *Bus) message(ctx context.Context, ev *Event) (*nats.Msg, trace.Span, error) {
	if ev.Data == nil {
		return nil, nil, fmt.Errorf("publish %s: no payload", ev.Type)
	}
	subj, err := subjectFor(b.cfg.Prefix, ev.Type)
	if err != nil {
		return nil, nil, fmt.Errorf("publish: %w", err)
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("publish %s: encode payload: %w", ev.Type, err)
	}
	if ev.ID == "" {
		h := sha256.New()
		for _, part := range [][]byte{[]byte(ev.Type), {0}, []byte(ev.Subject), {0}, data} {
			h.Write(part)
		}
		ev.ID = hex.EncodeToString(h.Sum(nil))
	}
	ctx, span := b.tracer.Start(ctx, "publish "+ev.Type,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subj),
			attribute.String("messaging.message.id", ev.ID),
			attribute.String("custody.artifact.digest", ev.Subject),
		))

	msg := nats.NewMsg(subj)
	msg.Data = data
	msg.Header.Set(HeaderSpecVersion, "1.0")
	msg.Header.Set(HeaderID, ev.ID)
	msg.Header.Set(HeaderType, ev.Type)
	msg.Header.Set(HeaderSource, b.source)
	msg.Header.Set(HeaderTime, b.now().UTC().Format(time.RFC3339Nano))
	if ev.Subject != "" {
		msg.Header.Set(HeaderSubject, ev.Subject)
	}
	msg.Header.Set(HeaderContentType, contentTypeProtobuf)
	msg.Header.Set(HeaderDataSchema, string(ev.Data.ProtoReflect().Descriptor().FullName()))
	b.prop.Inject(ctx, headerCarrier(msg.Header))
	return msg, span, nil
}

// headerCarrier adapts nats.Header to otel's TextMapCarrier.
type headerCarrier nats.Header

func (h headerCarrier) Get(key string) string { return nats.Header(h).Get(key) }
func (h headerCarrier) Set(key, value string) { nats.Header(h).Set(key, value) }
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

var _ propagation.TextMapCarrier = headerCarrier(nil)

package events_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func build() *eventsv1.BuildCompleted {
	return &eventsv1.BuildCompleted{
		Image: "reg.example/app@" + digest, Digest: digest, SourceRepository: "https://git.example/app",
		Commit: "abc123", BuilderId: "urn:custody:builder:dev", FinishedAt: timestamppb.Now(),
	}
}

func TestPublishCarriesCloudEventsHeadersAndTrace(t *testing.T) {
	env := eventstest.New(t)
	tp := sdktrace.NewTracerProvider()
	bus := env.Bus(t, events.WithSource("custody/test"), events.WithTracerProvider(tp))
	ctx, span := tp.Tracer("t").Start(context.Background(), "root")
	pub, err := bus.Publish(ctx, events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: build()})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	stream, err := env.JS.Stream(context.Background(), env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := stream.GetMsg(context.Background(), pub.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		events.HeaderID: pub.ID, events.HeaderType: events.TypeBuildCompleted, events.HeaderSource: "custody/test",
		events.HeaderSubject: digest, events.HeaderSpecVersion: "1.0", jetstream.MsgIDHeader: pub.ID,
	}
	for k, v := range want {
		if got := raw.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if raw.Subject != env.Config.Prefix+".build.completed" {
		t.Errorf("subject = %s", raw.Subject)
	}
	if _, err := time.Parse(time.RFC3339Nano, raw.Header.Get(events.HeaderTime)); err != nil {
		t.Errorf("ce-time: %v", err)
	}
	sc := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(raw.Header))
	_ = sc
	if tpHdr := raw.Header.Get("traceparent"); len(tpHdr) != 55 || tpHdr[3:35] != span.SpanContext().TraceID().String() {
		t.Errorf("traceparent %q does not carry trace %s", tpHdr, span.SpanContext().TraceID())
	}
}

func TestPublishSameContentIsDeduplicated(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	ev := events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: build()}
	first, err := bus.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	second, err := bus.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Duplicate || second.Sequence != first.Sequence {
		t.Fatalf("second publish = %+v, want duplicate of %+v", second, first)
	}
}

func TestConsumeDecodesAcksAndRetries(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	var calls atomic.Int32
	got := make(chan *eventsv1.BuildCompleted, 1)
	c, err := bus.Consume(context.Background(), events.ConsumerSpec{
		Name: "retry", Type: events.TypeBuildCompleted, Backoff: []time.Duration{50 * time.Millisecond},
	}, func(ctx context.Context, m *events.Message) error {
		if calls.Add(1) < 3 {
			return errors.New("transient")
		}
		var b eventsv1.BuildCompleted
		if err := m.Decode(&b); err != nil {
			return err
		}
		if m.Subject != digest || m.Type != events.TypeBuildCompleted || m.Delivered != 3 {
			t.Errorf("message = %+v", m)
		}
		got <- &b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	if _, err := bus.Publish(context.Background(), events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: build()}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if b.GetCommit() != "abc123" {
			t.Errorf("commit = %q", b.GetCommit())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("handler did not succeed; %d calls", calls.Load())
	}
	waitPending(t, env, "retry", 0)
}

func TestPoisonAndExhaustedMessagesAreDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handler   func(n int32) error
		wantCalls int32
	}{
		{"permanent", func(int32) error { return events.Permanent(errors.New("bad input")) }, 1},
		{"exhausted", func(int32) error { return errors.New("still down") }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := eventstest.New(t)
			bus := env.Bus(t)
			var calls atomic.Int32
			c, err := bus.Consume(context.Background(), events.ConsumerSpec{
				Name: "dlq-" + tc.name, Type: events.TypeBuildCompleted, MaxDeliver: 3,
				Backoff: []time.Duration{20 * time.Millisecond},
			}, func(ctx context.Context, m *events.Message) error { return tc.handler(calls.Add(1)) })
			if err != nil {
				t.Fatal(err)
			}
			defer c.Shutdown(context.Background())
			if _, err := bus.Publish(context.Background(), events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: build()}); err != nil {
				t.Fatal(err)
			}
			dl := readOne(t, env, env.Config.DeadLetterSubject("dlq-"+tc.name))
			if dl.Headers().Get(events.HeaderDLQConsumer) != "dlq-"+tc.name || dl.Headers().Get(events.HeaderSubject) != digest ||
				dl.Headers().Get(events.HeaderDLQReason) == "" || dl.Headers().Get(events.HeaderType) != events.TypeDeadLetter {
				t.Errorf("dead letter headers = %v", dl.Headers())
			}
			if len(dl.Data()) == 0 {
				t.Error("dead letter lost the payload")
			}
			if n := calls.Load(); n != tc.wantCalls {
				t.Errorf("handler calls = %d, want %d", n, tc.wantCalls)
			}
			waitPending(t, env, "dlq-"+tc.name, 0)
		})
	}
}

func TestMalformedPayloadIsPermanent(t *testing.T) {
	m := &events.Message{ID: "x", Type: events.TypeBuildCompleted, Data: []byte{0xff, 0xff, 0xff}}
	if err := m.Decode(&eventsv1.BuildCompleted{}); !errors.Is(err, events.ErrPermanent) {
		t.Fatalf("Decode(garbage) = %v, want ErrPermanent", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []events.Config{{Stream: "bad name"}, {Prefix: "a.>"}, {Prefix: "a..b"}, {Replicas: 9}} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", c)
		}
	}
	if err := (events.Config{}).Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

func readOne(t *testing.T, env *eventstest.Env, subject string) jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cons, err := env.JS.OrderedConsumer(ctx, env.Config.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(14 * time.Second))
	if err != nil {
		t.Fatalf("no message on %s: %v", subject, err)
	}
	return m
}

func waitPending(t *testing.T, env *eventstest.Env, consumer string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := env.JS.Consumer(context.Background(), env.Config.Stream, consumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == want && info.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s: ack pending %d, pending %d", consumer, info.NumAckPending, info.NumPending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A consumer of every event also sees dead-letter records; one poison message must yield
// exactly one dead-letter record, not a loop of records about records.
func TestCatchAllConsumerDoesNotLoopOnDeadLetters(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	c, err := bus.Consume(context.Background(), events.ConsumerSpec{Name: "all", Type: "custody.>", MaxDeliver: 2,
		Backoff: []time.Duration{10 * time.Millisecond}},
		func(ctx context.Context, m *events.Message) error {
			return events.Permanent(errors.New("refuse everything"))
		})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Publish(context.Background(), events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: build()}); err != nil {
		t.Fatal(err)
	}
	readOne(t, env, env.Config.DeadLetterSubject("all"))
	waitPending(t, env, "all", 0)
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := env.JS.Stream(context.Background(), env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want the event and one dead-letter record", info.State.Msgs)
	}
}

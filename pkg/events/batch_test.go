package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
)

// Events waiting when a batch consumer starts arrive in batches; each message is
// settled by its own outcome: acked, retried, or dead-lettered.
func TestConsumeBatchSettlesEachMessage(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	const n = 40
	for i := range n {
		b := build()
		b.Commit = fmt.Sprint(i)
		if _, err := bus.Publish(context.Background(), events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: b}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	largest := 0
	c, err := bus.ConsumeBatch(context.Background(), events.ConsumerSpec{
		Name: "batch", Type: events.TypeBuildCompleted, MaxBatch: 16, MaxDeliver: 3,
		Backoff: []time.Duration{20 * time.Millisecond},
	}, func(ctx context.Context, msgs []*events.Message) []error {
		mu.Lock()
		defer mu.Unlock()
		largest = max(largest, len(msgs))
		errs := make([]error, len(msgs))
		for i, m := range msgs {
			var b eventsv1.BuildCompleted
			if err := m.Decode(&b); err != nil {
				errs[i] = err
				continue
			}
			seen[b.Commit]++
			switch b.Commit {
			case "7": // poison
				errs[i] = events.Permanent(errors.New("refused"))
			case "8": // fails once, then succeeds
				if seen[b.Commit] == 1 {
					errs[i] = errors.New("transient")
				}
			}
		}
		return errs
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	dl := readOne(t, env, env.Config.DeadLetterSubject("batch"))
	var poisoned eventsv1.BuildCompleted
	if err := proto.Unmarshal(dl.Data(), &poisoned); err != nil || poisoned.Commit != "7" {
		t.Errorf("dead letter = %q, %v; want the event of commit 7", poisoned.Commit, err)
	}
	waitPending(t, env, "batch", 0)
	mu.Lock()
	defer mu.Unlock()
	if largest < 2 {
		t.Errorf("largest batch = %d: waiting events were handed over one at a time", largest)
	}
	if largest > 16 {
		t.Errorf("largest batch = %d, over MaxBatch 16", largest)
	}
	for i := range n {
		want := 1
		if i == 8 {
			want = 2
		}
		if got := seen[fmt.Sprint(i)]; got != want {
			t.Errorf("event %d handled %d times, want %d", i, got, want)
		}
	}
}

// A handler that answers with the wrong number of outcomes has every message retried,
// never acked on a guess.
func TestConsumeBatchWrongOutcomeCountRetries(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	var mu sync.Mutex
	calls := 0
	done := make(chan struct{})
	c, err := bus.ConsumeBatch(context.Background(), events.ConsumerSpec{
		Name: "miscount", Type: events.TypeBuildCompleted, Backoff: []time.Duration{20 * time.Millisecond},
	}, func(ctx context.Context, msgs []*events.Message) []error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return make([]error, len(msgs)+1)
		}
		if calls == 2 {
			close(done)
		}
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
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the message was not redelivered after a miscounted answer")
	}
	waitPending(t, env, "miscount", 0)
}

// MessageContext continues each message's own trace inside a batch.
func TestMessageContextCarriesTheMessagesTrace(t *testing.T) {
	env := eventstest.New(t)
	tp := sdktrace.NewTracerProvider()
	bus := env.Bus(t, events.WithTracerProvider(tp))
	traces := map[trace.TraceID]bool{}
	for i := range 3 {
		ctx, span := tp.Tracer("t").Start(context.Background(), "root")
		b := build()
		b.Commit = fmt.Sprint(i)
		if _, err := bus.Publish(ctx, events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: b}); err != nil {
			t.Fatal(err)
		}
		span.End()
		traces[span.SpanContext().TraceID()] = true
	}
	got := make(chan trace.TraceID, 3)
	c, err := bus.ConsumeBatch(context.Background(), events.ConsumerSpec{Name: "traced", Type: events.TypeBuildCompleted},
		func(ctx context.Context, msgs []*events.Message) []error {
			for _, m := range msgs {
				got <- trace.SpanContextFromContext(events.MessageContext(ctx, m)).TraceID()
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	for range 3 {
		select {
		case id := <-got:
			if !traces[id] {
				t.Errorf("handler saw trace %s, not one of the published events'", id)
			}
			delete(traces, id)
		case <-time.After(10 * time.Second):
			t.Fatal("events not handled")
		}
	}
}

// Events sent with PublishAsync count only once waited for; the stream de-duplicates
// them by id like synchronous publishes.
func TestPublishAsync(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	ctx := context.Background()
	var pending []*events.Pending
	builds := make([]*eventsv1.BuildCompleted, 4)
	for i := range builds {
		builds[i] = build()
		builds[i].Commit = fmt.Sprint(i)
	}
	for i := range 5 {
		b := builds[i%4] // the fifth repeats the first
		p, err := bus.PublishAsync(ctx, events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: b})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	seqs := map[uint64]bool{}
	for i, p := range pending {
		pub, err := p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pub.Duplicate != (i == 4) {
			t.Errorf("event %d: duplicate = %v", i, pub.Duplicate)
		}
		seqs[pub.Sequence] = true
	}
	if len(seqs) != 4 {
		t.Errorf("%d distinct stream sequences, want 4", len(seqs))
	}
	if _, err := bus.PublishAsync(ctx, events.Event{Type: "other.type", Data: build()}); err == nil {
		t.Error("PublishAsync of an unknown type succeeded")
	}
}

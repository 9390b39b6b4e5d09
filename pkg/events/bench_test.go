package events_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
)

// BenchmarkPublishConsume is the bus's own ceiling: events published (each awaiting the
// stream's ack) and handed to a durable consumer that acks at once. Each build in
// `custody dev` crosses the bus about ten times (build, scan, 2 signed, 2 recorded, plus
// history), which puts BenchmarkDevBuildToAttested's figure in context.
func BenchmarkPublishConsume(b *testing.B) {
	env := eventstest.New(b)
	bus := env.Bus(b)
	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	c, err := bus.Consume(context.Background(), events.ConsumerSpec{Name: "bench", Type: events.TypeBuildCompleted, Concurrency: 4},
		func(ctx context.Context, m *events.Message) error {
			if got.Add(1) == n {
				close(done)
			}
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	b.ResetTimer()
	for i := range b.N {
		ev := build()
		ev.InvocationId = string(rune('a'+i%26)) + time.Now().String()
		if _, err := bus.Publish(context.Background(), events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: ev}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("consumed %d of %d", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
)

// drainWait bounds how long Close waits for a drain to finish; nats.go gives up draining
// after nats.DefaultDrainTimeout and closes the connection itself.
const drainWait = nats.DefaultDrainTimeout + 5*time.Second

// Conn is a service's connection to NATS: the JetStream context, the event bus on the
// configured stream (created if missing) and, for binaries that use blobs, the blob store.
type Conn struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	Bus *events.Bus
	// Blobs is nil unless the Common it came from uses UsesBlobs.
	Blobs *blob.Store

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Connect connects to c.NATSURL (reconnecting forever once connected), creates the
// stream if it does not exist and, when c uses blobs, opens or creates the blob bucket.
// The bus logs to log and publishes with source custody/<c.Name>.
func (c Common) Connect(ctx context.Context, log *slog.Logger) (*Conn, error) {
	closed := make(chan struct{})
	nc, err := nats.Connect(c.NATSURL, nats.Name("custody-"+c.Name), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", c.NATSURL, err)
	}
	conn, err := c.open(ctx, nc, log)
	if err != nil {
		nc.Close()
		return nil, err
	}
	conn.closed = closed
	return conn, nil
}

func (c Common) open(ctx context.Context, nc *nats.Conn, log *slog.Logger) (*Conn, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	bus, err := events.New(js, events.Config{Stream: c.Stream, Prefix: c.Prefix, Replicas: c.Replicas},
		events.WithSource("custody/"+c.Name), events.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if err := bus.EnsureStream(ctx); err != nil {
		return nil, err
	}
	conn := &Conn{NC: nc, JS: js, Bus: bus}
	if c.Uses&UsesBlobs != 0 {
		var opts []blob.Option
		if c.Replicas != 0 {
			opts = append(opts, blob.WithReplicas(c.Replicas))
		}
		if conn.Blobs, err = blob.Open(ctx, js, c.BlobBucket, opts...); err != nil {
			return nil, err
		}
	}
	return conn, nil
}

// Close drains the connection, so that subscriptions finish and pending publishes are
// flushed, and waits for it to close. It is safe to call more than once; later calls
// return the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if c.closeErr = c.NC.Drain(); c.closeErr != nil {
			c.NC.Close()
			return
		}
		t := time.NewTimer(drainWait)
		defer t.Stop()
		select {
		case <-c.closed:
		case <-t.C:
			c.NC.Close()
			c.closeErr = fmt.Errorf("drain NATS connection: not closed after %s", drainWait)
		}
	})
	return c.closeErr
}

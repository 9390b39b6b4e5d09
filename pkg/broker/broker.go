package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Broker is a running embedded NATS server with JetStream enabled.
type Broker struct {
	srv *server.Server
}

type options struct {
	host string
	port int
}

// Option configures Start.
type Option func(*options) error

// WithAddr sets the client listen address (host:port). Port 0 picks a free port. The
// default is 127.0.0.1 on a free port.
func WithAddr(addr string) Option {
	return func(o *options) error {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("nats listen address %q: %w", addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("nats listen address %q: port must be 0-65535", addr)
		}
		o.host, o.port = host, p
		return nil
	}
}

// Start runs a NATS server with JetStream, storing its state under dir, and waits until
// it accepts connections.
func Start(ctx context.Context, dir string, opts ...Option) (*Broker, error) {
	o := options{host: "127.0.0.1", port: -1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.port == 0 {
		o.port = -1 // nats-server's "random port"
	}
	if dir == "" {
		return nil, errors.New("broker: a state directory is required")
	}
	srv, err := server.NewServer(&server.Options{
		Host:      o.host,
		Port:      o.port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
		// Leave room for blob-store chunks and headers.
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: configure nats server: %w", err)
	}
	go srv.Start()
	deadline := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !srv.ReadyForConnections(deadline) {
		srv.Shutdown()
		return nil, fmt.Errorf("broker: nats server on %s:%d did not become ready within %s", o.host, o.port, deadline)
	}
	return &Broker{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (b *Broker) ClientURL() string { return b.srv.ClientURL() }

// Shutdown stops the server and waits for it to finish. It is safe to call twice.
func (b *Broker) Shutdown(ctx context.Context) error {
	if b == nil || b.srv == nil {
		return nil
	}
	b.srv.Shutdown()
	done := make(chan struct{})
	go func() { b.srv.WaitForShutdown(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: shutdown: %w", ctx.Err())
	}
}

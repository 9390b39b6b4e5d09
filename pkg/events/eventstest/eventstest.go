// Package eventstest gives tests a real JetStream: an embedded nats-server in a temp
// directory, or the external server named by CUSTODY_TEST_NATS_URL. Each Env has its own
// stream name, subject prefix and blob bucket, and removes them when the test ends, so
// concurrent test runs can share one server.
package eventstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/broker"
	"github.com/custody-dev/custody/pkg/events"
)

// EnvNATSURL names the environment variable that points tests at an external server.
const EnvNATSURL = "CUSTODY_TEST_NATS_URL"

// Env is one test's slice of a JetStream server.
type Env struct {
	URL    string
	NC     *nats.Conn
	JS     jetstream.JetStream
	Config events.Config
	// Bucket is a unique blob-store bucket name for this test.
	Bucket string
	// External is true when the server is CUSTODY_TEST_NATS_URL's.
	External bool
}

// New connects to a server (embedded unless CUSTODY_TEST_NATS_URL is set) and reserves a
// unique stream, prefix and bucket, which are deleted when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	url := os.Getenv(EnvNATSURL)
	external := url != ""
	if !external {
		b, err := broker.Start(context.Background(), t.TempDir())
		if err != nil {
			t.Fatalf("start embedded nats: %v", err)
		}
		t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
		url = b.ClientURL()
	}
	nc, err := nats.Connect(url, nats.Name("custody-test "+t.Name()))
	if err != nil {
		t.Fatalf("connect to nats at %s: %v", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	id := RandomID()
	env := &Env{
		URL:      url,
		NC:       nc,
		JS:       js,
		Config:   events.Config{Stream: "T_" + id, Prefix: "t" + id, Memory: !external},
		Bucket:   "T_" + id + "_blobs",
		External: external,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, env.Config.Stream)
		_ = js.DeleteObjectStore(ctx, env.Bucket)
		nc.Close()
	})
	return env
}

// Bus returns a Bus over the test's stream, with the stream created.
func (e *Env) Bus(t testing.TB, opts ...events.Option) *events.Bus {
	t.Helper()
	b, err := events.New(e.JS, e.Config, opts...)
	if err != nil {
		t.Fatalf("events.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.EnsureStream(ctx); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
	return b
}

// RandomID returns 12 random hex characters.
func RandomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

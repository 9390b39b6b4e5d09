package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/events/eventstest"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConnectCreatesStreamAndBucket(t *testing.T) {
	env := eventstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := daemon.Common{Name: "test", Uses: daemon.UsesBlobs, NATSURL: env.URL,
		Stream: env.Config.Stream, Prefix: env.Config.Prefix, BlobBucket: env.Bucket}

	conn, err := c.Connect(ctx, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	if got := conn.NC.Opts.Name; got != "custody-test" {
		t.Errorf("connection name = %q, want custody-test", got)
	}
	stream, err := env.JS.Stream(ctx, env.Config.Stream)
	if err != nil {
		t.Fatalf("stream after Connect: %v", err)
	}
	if diff := cmp.Diff([]string{env.Config.Prefix + ".>"}, stream.CachedInfo().Config.Subjects); diff != "" {
		t.Errorf("stream subjects (-want +got):\n%s", diff)
	}
	if got := conn.Bus.Config().Stream; got != env.Config.Stream {
		t.Errorf("bus stream = %q, want %q", got, env.Config.Stream)
	}
	if conn.Blobs == nil {
		t.Fatal("Blobs is nil with UsesBlobs")
	}
	if _, err := env.JS.ObjectStore(ctx, env.Bucket); err != nil {
		t.Fatalf("bucket after Connect: %v", err)
	}
	ref, err := conn.Blobs.Put(ctx, "text/plain", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := conn.Blobs.Get(ctx, ref.Digest); err != nil || string(got) != "hello" {
		t.Errorf("Get = %q, %v", got, err)
	}

	// Connecting again finds what the first connection created.
	again, err := c.Connect(ctx, discard)
	if err != nil {
		t.Fatalf("second Connect: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !again.NC.IsClosed() {
		t.Error("connection open after Close")
	}
	if err := again.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConnectWithoutBlobs(t *testing.T) {
	env := eventstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := daemon.Common{Name: "test", NATSURL: env.URL, Stream: env.Config.Stream, Prefix: env.Config.Prefix, BlobBucket: env.Bucket}

	conn, err := c.Connect(ctx, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.Blobs != nil {
		t.Error("Blobs opened without UsesBlobs")
	}
	if _, err := env.JS.ObjectStore(ctx, env.Bucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("bucket lookup = %v, want ErrBucketNotFound", err)
	}
	if _, err := env.JS.Stream(ctx, env.Config.Stream); err != nil {
		t.Errorf("stream after Connect: %v", err)
	}
}

func TestConnectErrors(t *testing.T) {
	env := eventstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name string
		c    daemon.Common
		want string
	}{
		{"unreachable", daemon.Common{Name: "test", NATSURL: "nats://127.0.0.1:1", Stream: "S", Prefix: "p"}, "nats://127.0.0.1:1"},
		{"bad bucket", daemon.Common{Name: "test", Uses: daemon.UsesBlobs, NATSURL: env.URL,
			Stream: env.Config.Stream, Prefix: env.Config.Prefix, BlobBucket: "no/slashes"}, "no/slashes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tt.c.Connect(ctx, discard)
			if err == nil {
				_ = conn.Close()
				t.Fatal("Connect = nil error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

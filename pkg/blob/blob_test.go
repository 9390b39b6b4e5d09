package blob_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events/eventstest"
)

func TestPutGetRoundTripAndVerify(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMaxSize(1024))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Put(ctx, "application/json", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Digest != blob.Digest([]byte(`{"a":1}`)) || ref.Size != 7 {
		t.Fatalf("ref = %+v", ref)
	}
	if _, err := s.Put(ctx, "application/json", []byte(`{"a":1}`)); err != nil {
		t.Fatalf("second put: %v", err)
	}
	got, err := s.Get(ctx, ref.Digest)
	if err != nil || string(got) != `{"a":1}` {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := s.Get(ctx, blob.Digest([]byte("absent"))); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get(absent) = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "sha256:../../etc"); err == nil {
		t.Error("Get(bad digest) = nil error")
	}
	if _, err := s.Put(ctx, "x", make([]byte, 2048)); err == nil {
		t.Error("Put over the size limit succeeded")
	}
	// Tamper: overwrite the object under a digest that does not match its bytes.
	os, err := env.JS.ObjectStore(ctx, env.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	forged := blob.Digest([]byte("original"))
	if _, err := os.PutBytes(ctx, "sha256-"+forged[len("sha256:"):], []byte("tampered")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, forged); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("Get(tampered) = %v, want ErrCorrupt", err)
	}
}

// The store reads and writes small objects itself (two direct gets, two publishes);
// what it writes must be an ordinary object to any object store client, and the
// other way round, whatever the size.
func TestObjectStoreInterop(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMaxSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	os, err := env.JS.ObjectStore(ctx, env.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{"empty": 0, "small": 3000, "one chunk": 128 << 10, "three chunks": 300 << 10}
	for name, n := range sizes {
		t.Run(name, func(t *testing.T) {
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(i*7 + n)
			}
			ref, err := s.Put(ctx, "application/octet-stream", data)
			if err != nil {
				t.Fatal(err)
			}
			// Written by us, read by the object store client.
			got, err := os.GetBytes(ctx, "sha256-"+ref.Digest[len("sha256:"):])
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("object store GetBytes = %d bytes, %v; want %d bytes", len(got), err, n)
			}
			info, err := os.GetInfo(ctx, "sha256-"+ref.Digest[len("sha256:"):])
			if err != nil || info.Headers.Get("Content-Type") != "application/octet-stream" || info.Size != uint64(n) {
				t.Fatalf("object store GetInfo = %+v, %v", info, err)
			}
			// Written by the object store client, read by us.
			other := append([]byte("other "), data...)
			d := blob.Digest(other)
			if _, err := os.PutBytes(ctx, "sha256-"+d[len("sha256:"):], other); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, d); err != nil || !bytes.Equal(got, other) {
				t.Fatalf("Get = %d bytes, %v; want %d bytes", len(got), err, len(other))
			}
		})
	}
}

func TestGetRefusesBrokenObjects(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMaxSize(1024))
	if err != nil {
		t.Fatal(err)
	}
	os, err := env.JS.ObjectStore(ctx, env.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	// Metadata whose chunk is gone.
	ref, err := s.Put(ctx, "text/plain", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	name := "sha256-" + ref.Digest[len("sha256:"):]
	info, err := os.GetInfo(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := env.JS.Stream(ctx, "OBJ_"+env.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject("$O."+env.Bucket+".C."+info.NUID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ref.Digest); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("Get(object without its chunk) = %v, want ErrCorrupt", err)
	}
	// An object larger than the store's limit is refused before its content is read.
	big := make([]byte, 4096)
	d := blob.Digest(big)
	if _, err := os.PutBytes(ctx, "sha256-"+d[len("sha256:"):], big); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, d); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("Get(oversized) = %v, want a size-limit error", err)
	}
	// A deleted object is not found, and can be stored again.
	if err := os.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ref.Digest); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
	}
	if _, err := s.Put(ctx, "text/plain", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, ref.Digest); err != nil || string(got) != "hello" {
		t.Errorf("Get(stored again) = %q, %v", got, err)
	}
}

// A document this store wrote is read with one request (a direct get of its chunk);
// one another client wrote costs three (that get finding nothing, then the metadata,
// then the chunk), and both read the same bytes.
func TestGetReadsOwnDocumentsInOneRequest(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	s, err := blob.Open(ctx, env.JS, env.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	os, err := env.JS.ObjectStore(ctx, env.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := []byte(`{"mine":true}`), []byte(`{"theirs":true}`)
	ref, err := s.Put(ctx, "application/json", mine)
	if err != nil {
		t.Fatal(err)
	}
	other := blob.Digest(theirs)
	if _, err := os.PutBytes(ctx, "sha256-"+other[len("sha256:"):], theirs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		digest   string
		want     []byte
		requests uint64
	}{{ref.Digest, mine, 1}, {other, theirs, 3}} {
		before := env.NC.Stats().OutMsgs
		got, err := s.Get(ctx, c.digest)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("Get(%s) = %q, %v; want %q", c.digest, got, err, c.want)
		}
		if n := env.NC.Stats().OutMsgs - before; n != c.requests {
			t.Errorf("Get(%q) sent %d requests, want %d", c.want, n, c.requests)
		}
	}
}

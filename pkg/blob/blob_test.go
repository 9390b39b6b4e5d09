package blob_test

import (
	"context"
	"errors"
	"testing"

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

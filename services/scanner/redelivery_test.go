package scanner

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/sbom"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// A redelivered build event (same ce-id) must yield the same SBOM blob and an event the
// stream de-duplicates.
func TestRedeliveredBuildEventIsIdempotent(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	ctx := context.Background()
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()

	body := "P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "lib/apk/db/installed", Mode: 0o644, Size: int64(len(body))})
	_, _ = tw.Write([]byte(body))
	_ = tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	tag, err := name.ParseReference(host + "/r/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	data, err := proto.Marshal(&eventsv1.BuildCompleted{Image: host + "/r/app@" + d.String(), Digest: d.String()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(bus, blobs, WithScanOptions(sbom.WithTempDir(t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	msg := &events.Message{ID: "build-event-1", Type: events.TypeBuildCompleted, Subject: d.String(), Data: data}
	for i := range 2 {
		msg.Delivered = uint64(i + 1)
		if err := svc.handleBuild(ctx, msg); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	subj, _ := env.Config.Subject(events.TypeScanCompleted)
	s, err := env.JS.Stream(ctx, env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[subj]; n != 1 {
		t.Fatalf("%d scan events after two deliveries of one build event, want 1", n)
	}
	raw, err := s.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatal(err)
	}
	var sc eventsv1.ScanCompleted
	if err := proto.Unmarshal(raw.Data, &sc); err != nil {
		t.Fatal(err)
	}
	if sc.GetBuildEventId() != "build-event-1" || sc.GetStatus() != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE {
		t.Errorf("scan = %+v", &sc)
	}
	if _, err := blobs.Get(ctx, sc.GetSbom().GetDigest()); err != nil {
		t.Errorf("sbom blob: %v", err)
	}
}

package scanner_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/sbom"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/scanner"
)

const dpkgStatus = `Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7
Description: GNU Bourne Again SHell

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u7
Description: GNU C Library: Shared libraries
`

const osRelease = "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"

// debianImage is a one-layer image with a Debian os-release and a dpkg status file.
func debianImage(t *testing.T) v1.Image {
	t.Helper()
	return ocitest.Image(t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus})
}

type harness struct {
	env   *eventstest.Env
	bus   *events.Bus
	blobs *blob.Store
	host  string // registry host:port
	svc   *scanner.Service
}

// newHarness starts a JetStream, a blob store, an in-memory registry (behind wrap, if
// given) and the scanner service.
func newHarness(t *testing.T, wrap func(http.Handler) http.Handler, opts ...scanner.Option) *harness {
	t.Helper()
	env := eventstest.New(t)
	bus := env.Bus(t)
	ctx := context.Background()
	blobOpts := []blob.Option{}
	if !env.External {
		blobOpts = append(blobOpts, blob.WithMemoryStorage())
	}
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blobOpts...)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]scanner.Option{
		scanner.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		scanner.WithRetry(4, 50*time.Millisecond),
		scanner.WithScanOptions(sbom.WithTempDir(t.TempDir()), sbom.WithParallelism(2)),
		scanner.WithRemoteOptions(remote.WithRetryBackoff(remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 1})),
	}, opts...)
	svc, err := scanner.New(bus, blobs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	return &harness{env: env, bus: bus, blobs: blobs, host: strings.TrimPrefix(srv.URL, "http://"), svc: svc}
}

// push writes img to the test registry and returns its digest reference.
func (h *harness) push(t *testing.T, repo string, img v1.Image) (string, string) {
	t.Helper()
	tag, err := name.ParseReference(h.host + "/" + repo + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.host + "/" + repo + "@" + d.String(), d.String()
}

func (h *harness) publishBuild(t *testing.T, image, digest string) events.Published {
	t.Helper()
	pub, err := h.bus.Publish(context.Background(), events.Event{
		Type: events.TypeBuildCompleted, Subject: digest,
		Data: &eventsv1.BuildCompleted{Image: image, Digest: digest, BuilderId: "urn:custody:builder:test", Commit: "abc123"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// next returns the next message on the subject for eventType (or a dead-letter subject).
func (h *harness) next(t *testing.T, subject string, wait time.Duration) jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait+5*time.Second)
	defer cancel()
	cons, err := h.env.JS.OrderedConsumer(ctx, h.env.Config.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatalf("no message on %s within %s: %v", subject, wait, err)
	}
	return m
}

// scans reads the first n scan events.
func (h *harness) scans(t *testing.T, n int) []*eventsv1.ScanCompleted {
	t.Helper()
	subj, err := h.env.Config.Subject(events.TypeScanCompleted)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 95*time.Second)
	defer cancel()
	cons, err := h.env.JS.OrderedConsumer(ctx, h.env.Config.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventsv1.ScanCompleted
	for len(out) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(90 * time.Second))
		if err != nil {
			t.Fatalf("%d of %d scan events: %v", len(out), n, err)
		}
		var sc eventsv1.ScanCompleted
		if err := proto.Unmarshal(m.Data(), &sc); err != nil {
			t.Fatal(err)
		}
		out = append(out, &sc)
	}
	return out
}

func (h *harness) nextScan(t *testing.T) (*eventsv1.ScanCompleted, jetstream.Msg) {
	t.Helper()
	subj, err := h.env.Config.Subject(events.TypeScanCompleted)
	if err != nil {
		t.Fatal(err)
	}
	m := h.next(t, subj, 90*time.Second)
	var sc eventsv1.ScanCompleted
	if err := proto.Unmarshal(m.Data(), &sc); err != nil {
		t.Fatal(err)
	}
	return &sc, m
}

func TestScanCompletedCarriesSBOM(t *testing.T) {
	h := newHarness(t, nil)
	image, digest := h.push(t, "team/app", debianImage(t))
	pub := h.publishBuild(t, image, digest)

	sc, m := h.nextScan(t)
	if sc.GetStatus() != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE {
		t.Fatalf("status %v (%s), want COMPLETE", sc.GetStatus(), sc.GetDetail())
	}
	if sc.GetDigest() != digest || sc.GetImage() != image || sc.GetBuildEventId() != pub.ID {
		t.Errorf("scan = %+v, want digest %s, image %s, build event %s", sc, digest, image, pub.ID)
	}
	if got := m.Headers().Get(events.HeaderSubject); got != digest {
		t.Errorf("ce-subject = %q, want %s", got, digest)
	}
	if sc.GetPackageCount() != 2 || sc.GetScanner() != sbom.Scanner() {
		t.Errorf("package count %d, scanner %q", sc.GetPackageCount(), sc.GetScanner())
	}
	ref := sc.GetSbom()
	if ref.GetMediaType() != "application/vnd.cyclonedx+json" {
		t.Errorf("sbom media type %q", ref.GetMediaType())
	}
	doc, err := h.blobs.Get(context.Background(), ref.GetDigest())
	if err != nil {
		t.Fatalf("sbom blob: %v", err)
	}
	if int64(len(doc)) != ref.GetSize() {
		t.Errorf("blob size %d, ref says %d", len(doc), ref.GetSize())
	}
	var bom cyclonedx.BOM
	if err := cyclonedx.NewBOMDecoder(bytes.NewReader(doc), cyclonedx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("sbom is not CycloneDX JSON: %v", err)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.Version != digest {
		t.Errorf("sbom metadata does not name %s: %+v", digest, bom.Metadata)
	}
	found := false
	for _, c := range *bom.Components {
		if c.Name == "bash" && c.Version == "5.2.15-2+b7" && strings.HasPrefix(c.PackageURL, "pkg:deb/debian/bash@") {
			found = true
		}
	}
	if !found {
		t.Errorf("sbom does not list bash 5.2.15-2+b7:\n%s", doc)
	}
}

func TestBadBuildEventsAreDeadLettered(t *testing.T) {
	h := newHarness(t, nil)
	image, digest := h.push(t, "team/app", debianImage(t))
	other := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, image, digest, reason string
	}{
		{"tag instead of digest", h.host + "/team/app:latest", digest, "not pinned by digest"},
		{"digest field disagrees", image, other, "but the event's digest is"},
		{"no image", "", digest, "no image reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.publishBuild(t, tc.image, tc.digest)
			dl := h.next(t, h.env.Config.DeadLetterSubject(scanner.ConsumerName), 30*time.Second)
			if r := dl.Headers().Get(events.HeaderDLQReason); !strings.Contains(r, tc.reason) {
				t.Errorf("dead-letter reason %q, want it to say %q", r, tc.reason)
			}
			if a := dl.Headers().Get(events.HeaderDLQAttempts); a != "1" {
				t.Errorf("dead-lettered after %s attempts, want 1 (permanent)", a)
			}
			if err := purge(h, h.env.Config.DeadLetterSubject(scanner.ConsumerName)); err != nil {
				t.Fatal(err)
			}
		})
	}
	subj, _ := h.env.Config.Subject(events.TypeScanCompleted)
	if n := count(t, h, subj); n != 0 {
		t.Errorf("%d scan events published for invalid build events", n)
	}
}

func TestMissingImagePublishesFailedScan(t *testing.T) {
	h := newHarness(t, nil)
	h.push(t, "team/app", debianImage(t))
	missing := "sha256:" + strings.Repeat("0f", 32)
	image := h.host + "/team/app@" + missing
	pub := h.publishBuild(t, image, missing)
	sc, _ := h.nextScan(t)
	if sc.GetStatus() != eventsv1.ScanStatus_SCAN_STATUS_FAILED || sc.GetSbom() != nil {
		t.Fatalf("scan = %+v, want FAILED without an SBOM", sc)
	}
	if sc.GetDigest() != missing || sc.GetBuildEventId() != pub.ID || !strings.Contains(sc.GetDetail(), missing) {
		t.Errorf("scan = %+v; want it to name %s and event %s", sc, missing, pub.ID)
	}
	t.Logf("detail: %s", sc.GetDetail())
	if n := count(t, h, h.env.Config.DeadLetterSubject(scanner.ConsumerName)); n != 0 {
		t.Errorf("a missing image was dead-lettered (%d); want a FAILED scan only", n)
	}
}

func TestRegistryOutageIsRetried(t *testing.T) {
	var failures atomic.Int32
	var outage atomic.Bool
	h := newHarness(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if outage.Load() && strings.Contains(r.URL.Path, "/manifests/") && failures.Add(1) <= 2 {
				http.Error(w, "registry is restarting", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	image, digest := h.push(t, "team/app", debianImage(t))
	outage.Store(true)
	h.publishBuild(t, image, digest)
	sc, _ := h.nextScan(t)
	if sc.GetStatus() != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE {
		t.Fatalf("status %v (%s), want COMPLETE after the registry came back", sc.GetStatus(), sc.GetDetail())
	}
	if n := failures.Load(); n < 3 {
		t.Errorf("registry saw %d manifest requests, want the two failures and a retry", n)
	}
}

func TestNewAndLifecycle(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	blobs, err := blob.Open(context.Background(), env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		bus   *events.Bus
		blobs *blob.Store
		opts  []scanner.Option
	}{
		{"nil bus", nil, blobs, nil},
		{"nil blobs", bus, nil, nil},
		{"bad concurrency", bus, blobs, []scanner.Option{scanner.WithConcurrency(0)}},
		{"bad retry", bus, blobs, []scanner.Option{scanner.WithRetry(0)}},
		{"nil logger", bus, blobs, []scanner.Option{scanner.WithLogger(nil)}},
		{"bad timeout", bus, blobs, []scanner.Option{scanner.WithScanTimeout(-time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := scanner.New(tc.bus, tc.blobs, tc.opts...); err == nil {
				t.Error("New accepted invalid arguments")
			}
		})
	}
	svc, err := scanner.New(bus, blobs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	for i := range 2 {
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown #%d: %v", i+1, err)
		}
	}
}

func count(t *testing.T, h *harness, subject string) uint64 {
	t.Helper()
	s, err := h.env.JS.Stream(context.Background(), h.env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

func purge(h *harness, subject string) error {
	s, err := h.env.JS.Stream(context.Background(), h.env.Config.Stream)
	if err != nil {
		return err
	}
	if err := s.Purge(context.Background(), jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("purge %s: %w", subject, err)
	}
	return nil
}

func TestImageIndexIsScannedPerPlatform(t *testing.T) {
	h := newHarness(t, nil)
	amd := debianImage(t)
	arm, err := mutate.AppendLayers(amd, randomLayer(t))
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	tag, err := name.ParseReference(h.host + "/team/multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for platform, img := range map[string]v1.Image{"linux/amd64": amd, "linux/arm64": arm} {
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		want[d.String()] = platform
	}
	pub := h.publishBuild(t, h.host+"/team/multi@"+idxDigest.String(), idxDigest.String())

	// One event per platform image, about that image's own digest, then one for the index.
	scans := h.scans(t, 3)
	for _, sc := range scans[:2] {
		platform, ok := want[sc.GetDigest()]
		if !ok || sc.GetPlatform() != platform || sc.GetIndexDigest() != idxDigest.String() ||
			sc.GetImage() != h.host+"/team/multi@"+sc.GetDigest() || sc.GetStatus() != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE ||
			sc.GetBuildEventId() != pub.ID || sc.GetPackageCount() != 2 {
			t.Fatalf("platform scan = %+v", sc)
		}
		delete(want, sc.GetDigest())
		doc, err := h.blobs.Get(context.Background(), sc.GetSbom().GetDigest())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, []byte(`"version":"`+sc.GetDigest()+`"`)) {
			t.Errorf("SBOM of %s does not name it", platform)
		}
	}
	sc := scans[2]
	if sc.GetStatus() != eventsv1.ScanStatus_SCAN_STATUS_COMPLETE || sc.GetDigest() != idxDigest.String() || sc.GetPlatform() != "" ||
		sc.GetPackageCount() != 4 {
		t.Fatalf("index scan = %+v, want COMPLETE for index %s with both platforms' packages", sc, idxDigest)
	}
	doc, err := h.blobs.Get(context.Background(), sc.GetSbom().GetDigest())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(idxDigest.String())) || !bytes.Contains(doc, []byte("linux/arm64")) {
		t.Errorf("index SBOM does not describe the index and its platforms")
	}
}

func randomLayer(t *testing.T) v1.Layer {
	t.Helper()
	l, err := random.Layer(1024, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

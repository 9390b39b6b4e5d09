package attestor_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/attestor"
)

const sbomJSON = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"zlib","version":"1.3"}]}`

type fixture struct {
	t      *testing.T
	env    *eventstest.Env
	bus    *events.Bus
	blobs  *blob.Store
	signer *signing.Signer
	svc    *attestor.Service
	signed chan *eventsv1.AttestationSigned
}

// newFixture starts an attestor on an embedded JetStream with in-memory state and blob
// storage; opts are added after attestor.WithMemoryState.
func newFixture(t *testing.T, opts ...attestor.Option) *fixture {
	t.Helper()
	ctx := context.Background()
	env := eventstest.New(t)
	bus := env.Bus(t, events.WithSource("custody/attestor"))
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := attestor.New(bus, blobs, signer, append([]attestor.Option{attestor.WithMemoryState()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.JS.DeleteKeyValue(ctx, svc.StateBucket())
	})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 2 {
			if err := svc.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}
	})
	f := &fixture{t: t, env: env, bus: bus, blobs: blobs, signer: signer, svc: svc, signed: make(chan *eventsv1.AttestationSigned, 16)}
	cons, err := bus.Consume(ctx, events.ConsumerSpec{Name: "test-signed", Type: events.TypeAttestationSigned},
		func(_ context.Context, msg *events.Message) error {
			var as eventsv1.AttestationSigned
			if err := msg.Decode(&as); err != nil {
				return err
			}
			if msg.Subject != as.GetDigest() {
				t.Errorf("AttestationSigned ce-subject %q, digest %q", msg.Subject, as.GetDigest())
			}
			f.signed <- &as
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Shutdown(context.Background()) })
	return f
}

func (f *fixture) publish(ev events.Event) events.Published {
	f.t.Helper()
	pub, err := f.bus.Publish(context.Background(), ev)
	if err != nil {
		f.t.Fatal(err)
	}
	return pub
}

func (f *fixture) nextSigned() *eventsv1.AttestationSigned {
	f.t.Helper()
	select {
	case as := <-f.signed:
		return as
	case <-time.After(20 * time.Second):
		f.t.Fatal("no AttestationSigned event")
		return nil
	}
}

func (f *fixture) noMoreSigned() {
	f.t.Helper()
	select {
	case as := <-f.signed:
		f.t.Fatalf("unexpected AttestationSigned %v", as)
	case <-time.After(300 * time.Millisecond):
	}
}

// waitHandled waits until consumer has acknowledged (or terminated) everything up to seq.
func (f *fixture) waitHandled(consumer string, seq uint64) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := f.env.JS.Consumer(context.Background(), f.env.Config.Stream, consumer)
		if err != nil {
			f.t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			f.t.Fatal(err)
		}
		if info.AckFloor.Stream >= seq {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("consumer %s did not get past stream sequence %d", consumer, seq)
}

// verifyEnvelope fetches the envelope an event names and verifies it against digest.
func (f *fixture) verifyEnvelope(as *eventsv1.AttestationSigned, digest string) []byte {
	f.t.Helper()
	env, err := f.blobs.Get(context.Background(), as.GetEnvelope().GetDigest())
	if err != nil {
		f.t.Fatal(err)
	}
	if as.GetEnvelope().GetMediaType() != attestation.MediaTypeDSSE || as.GetEnvelope().GetSize() != int64(len(env)) {
		f.t.Errorf("envelope ref %v", as.GetEnvelope())
	}
	key, err := verify.ParseTrustedKeyPEM("test", f.signer.PublicKeyPEM())
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := verify.NewVerifier([]verify.TrustedKey{key})
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), env, digest)
	if err != nil {
		f.t.Fatalf("envelope does not verify: %v", err)
	}
	if res.PredicateType != as.GetPredicateType() || as.GetKeyId() != f.signer.KeyID() {
		f.t.Errorf("verified predicate %s key %v; event says %s key %s", res.PredicateType, res.KeyIDs, as.GetPredicateType(), as.GetKeyId())
	}
	return env
}

func attachments(t *testing.T, subject name.Digest) []oci.StoredAttachment {
	t.Helper()
	atts, err := oci.ReadAttachments(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return atts
}

func TestBuildThenScanAttestsOnceEach(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/team/app")
	digest := subject.DigestStr()
	build := &eventsv1.BuildCompleted{
		Image: subject.Name(), Digest: digest, SourceRepository: "https://git.example.com/team/app",
		Commit: "0123456789abcdef0123456789abcdef01234567", BuilderId: "https://ci.example.com/runner",
		BuildType: "https://custody.dev/buildtypes/generic/v1",
	}

	// Provenance.
	f.publish(events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: build})
	prov := f.nextSigned()
	if prov.GetPredicateType() != attestation.PredicateSLSAProvenanceV1 || prov.GetDigest() != digest || prov.GetImage() != subject.Name() {
		t.Fatalf("provenance event %v", prov)
	}
	provEnv := f.verifyEnvelope(prov, digest)
	atts := attachments(t, subject)
	if len(atts) != 1 || string(atts[0].Envelope) != string(provEnv) || atts[0].PredicateType != attestation.PredicateSLSAProvenanceV1 {
		t.Fatalf("after build: attachments %+v", atts)
	}
	if want := subject.Context().Name() + "@"; len(prov.GetAttachment()) <= len(want) || prov.GetAttachment()[:len(want)] != want {
		t.Errorf("attachment ref %q not in %s", prov.GetAttachment(), subject.Context())
	}

	// SBOM from a completed scan: a second layer.
	ref, err := f.blobs.Put(ctx, "application/vnd.cyclonedx+json", []byte(sbomJSON))
	if err != nil {
		t.Fatal(err)
	}
	scan := &eventsv1.ScanCompleted{
		Image: subject.Name(), Digest: digest, Status: eventsv1.ScanStatus_SCAN_STATUS_COMPLETE,
		Sbom: &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}, PackageCount: 1,
	}
	f.publish(events.Event{Type: events.TypeScanCompleted, Subject: digest, Data: scan})
	sb := f.nextSigned()
	if sb.GetPredicateType() != attestation.PredicateCycloneDX {
		t.Fatalf("sbom event %v", sb)
	}
	sbEnv := f.verifyEnvelope(sb, digest)
	atts = attachments(t, subject)
	if len(atts) != 2 || string(atts[0].Envelope) != string(provEnv) || string(atts[1].Envelope) != string(sbEnv) {
		t.Fatalf("after scan: %d attachments", len(atts))
	}

	// Redelivery (a new event id with the same content) signs nothing new: the same
	// envelope is reused, no layer is added, and the re-announcement is de-duplicated.
	rb := f.publish(events.Event{Type: events.TypeBuildCompleted, Subject: digest, ID: "redelivered-build", Data: build})
	rs := f.publish(events.Event{Type: events.TypeScanCompleted, Subject: digest, ID: "redelivered-scan", Data: scan})
	f.waitHandled(attestor.ConsumerBuild, rb.Sequence)
	f.waitHandled(attestor.ConsumerScan, rs.Sequence)
	f.noMoreSigned()
	atts = attachments(t, subject)
	if len(atts) != 2 || string(atts[0].Envelope) != string(provEnv) || string(atts[1].Envelope) != string(sbEnv) {
		t.Fatalf("after redelivery: %d attachments", len(atts))
	}

	// A failed scan is acknowledged without an attestation.
	failed := proto.Clone(scan).(*eventsv1.ScanCompleted)
	failed.Status = eventsv1.ScanStatus_SCAN_STATUS_FAILED
	failed.Sbom = nil
	failed.Detail = "registry unreachable"
	fs := f.publish(events.Event{Type: events.TypeScanCompleted, Subject: digest, Data: failed})
	f.waitHandled(attestor.ConsumerScan, fs.Sequence)
	f.noMoreSigned()
	if n := len(attachments(t, subject)); n != 2 {
		t.Fatalf("after failed scan: %d attachments", n)
	}
	if msg := lastOn(t, f.env, f.env.Config.DeadLetterSubject(attestor.ConsumerScan)); msg != nil {
		t.Errorf("failed scan was dead-lettered: %v", msg.Header)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/app")
	build := &eventsv1.BuildCompleted{
		Image: subject.Name(), Digest: subject.DigestStr(), SourceRepository: "https://git.example.com/app",
		Commit: "abcdef0", BuilderId: "https://ci.example.com/runner",
	}
	f.publish(events.Event{Type: events.TypeBuildCompleted, Subject: subject.DigestStr(), Data: build})
	first := f.nextSigned()

	// A second instance (another replica, or this one after a restart) with the same
	// state reuses the envelope rather than signing a different one.
	if err := f.svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc2, err := attestor.New(f.bus, f.blobs, f.signer, attestor.WithMemoryState(), attestor.WithStateBucket(f.svc.StateBucket()))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc2.Shutdown(context.Background()) })
	pub := f.publish(events.Event{Type: events.TypeBuildCompleted, Subject: subject.DigestStr(), ID: "again", Data: build})
	f.waitHandled(attestor.ConsumerBuild, pub.Sequence)
	atts := attachments(t, subject)
	if len(atts) != 1 || atts[0].Digest != first.GetEnvelope().GetDigest() {
		t.Fatalf("after restart: %d attachments (want the one envelope %s)", len(atts), first.GetEnvelope().GetDigest())
	}
}

func lastOn(t *testing.T, env *eventstest.Env, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	stream, err := env.JS.Stream(context.Background(), env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestPoisonEventsAreDeadLettered(t *testing.T) {
	f := newFixture(t)
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/app")
	other := "sha256:" + "ab" + subject.DigestStr()[9:]
	for _, tc := range []struct {
		name     string
		consumer string
		ev       events.Event
	}{
		{"digest mismatch", attestor.ConsumerBuild, events.Event{Type: events.TypeBuildCompleted, Subject: other,
			Data: &eventsv1.BuildCompleted{Image: subject.Name(), Digest: other, BuilderId: "urn:b"}}},
		{"image not pinned", attestor.ConsumerBuild, events.Event{Type: events.TypeBuildCompleted, Subject: subject.DigestStr(),
			Data: &eventsv1.BuildCompleted{Image: subject.Context().Name() + ":latest", Digest: subject.DigestStr(), BuilderId: "urn:b"}}},
		{"no builder", attestor.ConsumerBuild, events.Event{Type: events.TypeBuildCompleted, Subject: subject.DigestStr(),
			Data: &eventsv1.BuildCompleted{Image: subject.Name(), Digest: subject.DigestStr()}}},
		{"sbom ref not a digest", attestor.ConsumerScan, events.Event{Type: events.TypeScanCompleted, Subject: subject.DigestStr(),
			Data: &eventsv1.ScanCompleted{Image: subject.Name(), Digest: subject.DigestStr(), Status: eventsv1.ScanStatus_SCAN_STATUS_COMPLETE,
				Sbom: &eventsv1.BlobRef{Digest: "../../etc/passwd"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := f.publish(tc.ev)
			f.waitHandled(tc.consumer, pub.Sequence)
			msg := lastOn(t, f.env, f.env.Config.DeadLetterSubject(tc.consumer))
			if msg == nil || msg.Header.Get(events.HeaderID) != pub.ID {
				t.Fatalf("event %s not dead-lettered (last record %v)", pub.ID, msg)
			}
		})
	}
	f.noMoreSigned()
	if n := len(attachments(t, subject)); n != 0 {
		t.Errorf("poison events attached %d envelopes", n)
	}
}

func TestNewValidates(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	blobs, err := blob.Open(context.Background(), env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := signing.NewSigner(key)
	for _, tc := range []struct {
		name string
		fn   func() (*attestor.Service, error)
	}{
		{"nil bus", func() (*attestor.Service, error) { return attestor.New(nil, blobs, signer) }},
		{"nil blobs", func() (*attestor.Service, error) { return attestor.New(bus, nil, signer) }},
		{"nil signer", func() (*attestor.Service, error) { return attestor.New(bus, blobs, nil) }},
		{"bad bucket", func() (*attestor.Service, error) {
			return attestor.New(bus, blobs, signer, attestor.WithStateBucket("a.b"))
		}},
		{"bad replicas", func() (*attestor.Service, error) {
			return attestor.New(bus, blobs, signer, attestor.WithStateReplicas(0))
		}},
		{"bad concurrency", func() (*attestor.Service, error) {
			return attestor.New(bus, blobs, signer, attestor.WithConcurrency(0))
		}},
		{"bad scan concurrency", func() (*attestor.Service, error) {
			return attestor.New(bus, blobs, signer, attestor.WithScanConcurrency(65))
		}},
		{"nil logger", func() (*attestor.Service, error) { return attestor.New(bus, blobs, signer, attestor.WithLogger(nil)) }},
		{"unknown referrers mode", func() (*attestor.Service, error) {
			return attestor.New(bus, blobs, signer, attestor.WithReferrers("sometimes"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.fn(); err == nil {
				t.Error("accepted")
			}
		})
	}
	svc, err := attestor.New(bus, blobs, signer)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := svc.StateBucket(), env.Config.Stream+attestor.StateBucketSuffix; got != want {
		t.Errorf("StateBucket = %q, want %q", got, want)
	}
}

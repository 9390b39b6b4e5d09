package attestor_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/attestor"
)

// probeCounter serves an in-memory registry and counts referrers API requests.
type probeCounter struct {
	host     string
	requests atomic.Int64
}

func newProbeCounter(t *testing.T, referrers bool) *probeCounter {
	t.Helper()
	p := &probeCounter{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			p.requests.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func buildEvent(subject name.Digest) events.Event {
	return events.Event{Type: events.TypeBuildCompleted, Subject: subject.DigestStr(), Data: &eventsv1.BuildCompleted{
		Image: subject.Name(), Digest: subject.DigestStr(), SourceRepository: "https://git.example.com/app",
		Commit: "0123456789abcdef0123456789abcdef01234567", BuilderId: "https://ci.example.com/runner",
		BuildType: "https://custody.dev/buildtypes/generic/v1",
	}}
}

func bundles(t *testing.T, subject name.Digest) []oci.StoredBundle {
	t.Helper()
	b, err := oci.ReadBundleReferrers(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hasFallbackTag reports whether the referrers tag schema's sha256-<hex> index exists.
func hasFallbackTag(subject name.Digest) bool {
	_, err := remote.Head(subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1)))
	return err == nil
}

func TestBundleReferrerWhereTheRegistryHasTheAPI(t *testing.T) {
	f := newFixture(t)
	reg := newProbeCounter(t, true)
	subject := ocitest.PushRandomImage(t, reg.host+"/team/app")

	f.publish(buildEvent(subject))
	prov := f.nextSigned()
	env := f.verifyEnvelope(prov, subject.DigestStr())
	got := bundles(t, subject)
	if len(got) != 1 {
		t.Fatalf("%d bundle referrers, want 1", len(got))
	}
	if string(got[0].Envelope) != string(env) || got[0].PredicateType != attestation.PredicateSLSAProvenanceV1 || got[0].KeyHint != f.signer.KeyID() {
		t.Errorf("bundle referrer %+v does not carry the signed envelope", got[0])
	}
	if atts := attachments(t, subject); len(atts) != 1 || string(atts[0].Envelope) != string(env) {
		t.Errorf("the .att tag must stay: %d attachments", len(atts))
	}
	if hasFallbackTag(subject) {
		t.Error("a registry with the referrers API got a referrers tag too")
	}

	// A second statement about an image in the same repository: no second probe, and a
	// redelivered build adds no referrer.
	afterFirst := reg.requests.Load()
	other := ocitest.PushRandomImage(t, reg.host+"/team/app")
	f.publish(buildEvent(other))
	f.nextSigned()
	if len(bundles(t, other)) != 1 {
		t.Fatal("second image got no bundle referrer")
	}
	// Attaching asks the registry once itself (go-containerregistry checks the API when it
	// writes a manifest with a subject); a second probe would be a second request.
	if n := reg.requests.Load() - afterFirst; n > 2 { // 1 from the write, 1 from ReadBundleReferrers
		t.Errorf("%d referrers API requests for the second image; the probe answer was not kept", n)
	}
	redo := buildEvent(subject)
	redo.ID = "redelivered"
	pub := f.publish(redo)
	f.waitHandled(attestor.ConsumerBuild, pub.Sequence)
	if n := len(bundles(t, subject)); n != 1 {
		t.Errorf("after redelivery: %d bundle referrers, want 1", n)
	}
}

func TestNoBundleReferrerWithoutTheAPI(t *testing.T) {
	f := newFixture(t)
	reg := newProbeCounter(t, false)
	subject := ocitest.PushRandomImage(t, reg.host+"/app")

	f.publish(buildEvent(subject))
	prov := f.nextSigned()
	env := f.verifyEnvelope(prov, subject.DigestStr())
	if atts := attachments(t, subject); len(atts) != 1 || string(atts[0].Envelope) != string(env) {
		t.Fatalf("%d .att attachments, want 1", len(atts))
	}
	if hasFallbackTag(subject) || len(bundles(t, subject)) != 0 {
		t.Error("a registry without the referrers API got a bundle referrer")
	}
	if reg.requests.Load() == 0 {
		t.Error("the attestor never asked whether the registry has the referrers API")
	}
}

func TestReferrersModes(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		f := newFixture(t, attestor.WithReferrers(attestor.ReferrersOff))
		reg := newProbeCounter(t, true)
		subject := ocitest.PushRandomImage(t, reg.host+"/app")
		f.publish(buildEvent(subject))
		f.nextSigned()
		if n := len(bundles(t, subject)); n != 0 {
			t.Errorf("off: %d bundle referrers", n)
		}
		if len(attachments(t, subject)) != 1 {
			t.Error("off: no .att attachment")
		}
	})
	t.Run("on without the API", func(t *testing.T) {
		f := newFixture(t, attestor.WithReferrers(attestor.ReferrersOn))
		reg := newProbeCounter(t, false)
		subject := ocitest.PushRandomImage(t, reg.host+"/app")
		f.publish(buildEvent(subject))
		f.nextSigned()
		if n := len(bundles(t, subject)); n != 1 || !hasFallbackTag(subject) {
			t.Errorf("on: %d bundle referrers (referrers tag %v), want 1 in the referrers tag", n, hasFallbackTag(subject))
		}
	})
}

// A registry that claims the API but refuses referrer manifests: in auto mode the
// attestation is still signed and announced with its .att tag.
func TestRefusedBundleReferrerDoesNotBlockAttestation(t *testing.T) {
	f := newFixture(t)
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	var refusals atomic.Int64
	var refuse atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:") {
			refusals.Add(1)
			http.Error(w, `{"errors":[{"code":"MANIFEST_INVALID","message":"no subjects here"}]}`, http.StatusBadRequest)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	subject := ocitest.PushRandomImage(t, host+"/app")
	refuse.Store(true) // the image itself is pushed by digest; the .att goes to a tag

	f.publish(buildEvent(subject))
	select {
	case as := <-f.signed:
		f.verifyEnvelope(as, subject.DigestStr())
	case <-time.After(20 * time.Second):
		t.Fatal("a refused bundle referrer blocked the attestation")
	}
	if refusals.Load() == 0 {
		t.Error("the attestor never tried to write the bundle referrer")
	}
	if len(attachments(t, subject)) != 1 {
		t.Error("no .att attachment")
	}
}

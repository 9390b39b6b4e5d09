package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/ledger/ledgertest"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ledger"
)

// fixture is one ledger service on a real JetStream (eventstest), blob store and SQLite
// database, with a trusted and an untrusted signing key.
type fixture struct {
	env       *eventstest.Env
	bus       *events.Bus
	tp        *sdktrace.TracerProvider
	blobs     *blob.Store
	store     *sqlite.Store
	verifier  *verify.Verifier
	svc       *ledger.Service
	srv       *httptest.Server
	trusted   *signing.Signer
	untrusted *signing.Signer
	log       testWriter
	logSigner note.Signer
	logKey    string
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith is newFixture whose service is built with opts and whose API is
// served through wrap (nil: as it is).
func newFixtureWith(t *testing.T, wrap func(http.Handler) http.Handler, opts ...ledger.Option) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{log: newTestWriter(t)}
	f.env, f.tp = eventstest.New(t), sdktrace.NewTracerProvider()
	f.bus = f.env.Bus(t, events.WithSource("custody/test"), events.WithTracerProvider(f.tp))
	var err error
	if f.blobs, err = blob.Open(ctx, f.env.JS, f.env.Bucket, blob.WithMemoryStorage()); err != nil {
		t.Fatal(err)
	}
	if f.store, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.store.Close() })
	f.trusted, f.untrusted = signingtest.New(t), signingtest.New(t)
	key, err := verify.ParseTrustedKeyPEM("trusted", f.trusted.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if f.verifier, err = verify.NewVerifier([]verify.TrustedKey{key}); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "custody.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	if f.logSigner, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	f.logKey = vkey
	f.svc = f.start(t, opts...)
	h := f.svc.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// start builds and starts a ledger service on the fixture's parts.
func (f *fixture) start(t *testing.T, opts ...ledger.Option) *ledger.Service {
	t.Helper()
	svc, err := ledger.New(f.bus, f.blobs, f.store, f.verifier, append([]ledger.Option{ledger.WithRetryBackoff(50 * time.Millisecond),
		ledger.WithLogger(slog.New(slog.NewTextHandler(f.log, nil))), ledger.WithLogSigner(f.logSigner, f.logKey)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	return svc
}

func (f *fixture) publish(t *testing.T, ctx context.Context, ev events.Event) events.Published {
	t.Helper()
	pub, err := f.bus.Publish(ctx, ev)
	if err != nil {
		t.Fatalf("publish %s: %v", ev.Type, err)
	}
	return pub
}

// testWriter sends log lines to the test's log, so they show when a test fails, and
// drops them once the test is over (a late handler must not log into a finished test).
type testWriter struct {
	t    *testing.T
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t *testing.T) testWriter {
	w := testWriter{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		*w.done = true
	})
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// waitIdle waits until the ledger's consumer has acknowledged every message in the
// stream (its filter covers the whole stream). The consumer's pending count alone is
// not enough: the server updates it asynchronously after a publish.
func (f *fixture) waitIdle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := f.env.JS.Stream(ctx, f.env.Config.Stream)
		if err != nil {
			t.Fatal(err)
		}
		sinfo, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.Consumer(ctx, ledger.ConsumerName)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream >= sinfo.State.LastSeq && info.NumAckPending == 0 && info.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger consumer did not catch up: ack floor %d, stream last %d, ack pending %d, pending %d",
				info.AckFloor.Stream, sinfo.State.LastSeq, info.NumAckPending, info.NumPending)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// count returns how many messages the stream holds on subject.
func (f *fixture) count(t *testing.T, subject string) uint64 {
	t.Helper()
	st, err := f.env.JS.Stream(context.Background(), f.env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// last returns the last message on subject, waiting for one to appear.
func (f *fixture) last(t *testing.T, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	st, err := f.env.JS.Stream(context.Background(), f.env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := st.GetLastMsgForSubject(context.Background(), subject)
		if err == nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message on %s: %v", subject, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *fixture) subject(t *testing.T, eventType string) string {
	t.Helper()
	s, err := f.env.Config.Subject(eventType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get fetches path from the API and decodes the JSON answer into out (if not nil).
func (f *fixture) get(t *testing.T, path string, out any) *http.Response {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: decode %q: %v", path, body, err)
		}
	}
	return resp
}

func digestOf(seed string) string { return ledgertest.Digest(seed) }

func buildEvent(digest string) *eventsv1.BuildCompleted {
	return &eventsv1.BuildCompleted{
		Image: "reg.example/app@" + digest, Digest: digest, SourceRepository: "https://git.example/app",
		Commit: "0123abc", BuilderId: "urn:custody:builder:test", BuildType: "https://custody.dev/build/v1",
		StartedAt:  timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		FinishedAt: timestamppb.New(time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)),
	}
}

// signedAttestation signs a SLSA provenance statement about statementDigest with
// signer, stores the envelope in the blob store and returns the AttestationSigned event
// announcing it for eventDigest.
func (f *fixture) signedAttestation(t *testing.T, signer *signing.Signer, statementDigest, eventDigest string) (*eventsv1.AttestationSigned, blob.Ref) {
	t.Helper()
	stmt, err := attestation.Provenance(buildEvent(statementDigest))
	if err != nil {
		t.Fatal(err)
	}
	env, err := signer.Sign(context.Background(), signing.PayloadTypeInToto, stmt)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := f.blobs.Put(context.Background(), attestation.MediaTypeDSSE, env)
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.AttestationSigned{
		Image: "reg.example/app@" + eventDigest, Digest: eventDigest,
		PredicateType: attestation.PredicateSLSAProvenanceV1,
		Envelope:      &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size},
		// Always claims the trusted key: the ledger must not believe it.
		KeyId: f.trusted.KeyID(),
	}, ref
}

func TestRecordsBuildAndVerifiedAttestation(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("image 1")
	ctx, span := f.tp.Tracer("test").Start(context.Background(), "pipeline")
	f.publish(t, ctx, events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: buildEvent(digest)})
	signed, ref := f.signedAttestation(t, f.trusted, digest, digest)
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: digest, Data: signed})
	span.End()
	traceID := span.SpanContext().TraceID().String()

	// The ledger announces what it recorded.
	rec := f.last(t, f.subject(t, events.TypeAttestationRecorded))
	var recorded eventsv1.AttestationRecorded
	if err := proto.Unmarshal(rec.Data, &recorded); err != nil {
		t.Fatal(err)
	}
	want := &eventsv1.AttestationRecorded{
		Image: signed.Image, Digest: digest, PredicateType: attestation.PredicateSLSAProvenanceV1,
		Envelope: &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size},
		KeyIds:   []string{f.trusted.KeyID()}, LogIndex: 0, // the first entry of the log
	}
	if !proto.Equal(want, &recorded) {
		t.Errorf("attestation.recorded = %v, want %v", &recorded, want)
	}
	if got := rec.Header.Get(events.HeaderSubject); got != digest {
		t.Errorf("attestation.recorded ce-subject = %q, want %s", got, digest)
	}
	f.waitIdle(t)

	var doc ledger.ProvenanceJSON
	resp := f.get(t, "/v1/artifacts/"+digest+"/provenance", &doc)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("provenance status %d", resp.StatusCode)
	}
	if doc.Digest != digest || doc.Image != "reg.example/app@"+digest {
		t.Errorf("digest, image = %s, %s", doc.Digest, doc.Image)
	}
	if doc.Build == nil || doc.Build.Commit != "0123abc" || doc.Build.BuilderID != "urn:custody:builder:test" ||
		doc.Build.SourceRepository != "https://git.example/app" || doc.Build.FinishedAt != "2026-03-01T12:05:00Z" {
		t.Errorf("build = %+v", doc.Build)
	}
	if len(doc.Attestations) != 1 {
		t.Fatalf("attestations = %+v, want one", doc.Attestations)
	}
	a := doc.Attestations[0]
	if a.EnvelopeDigest != ref.Digest || a.PredicateType != attestation.PredicateSLSAProvenanceV1 ||
		len(a.KeyIDs) != 1 || a.KeyIDs[0] != f.trusted.KeyID() || a.LogIndex != 0 || a.RecordedAt == "" {
		t.Errorf("attestation = %+v, want envelope %s signed by %s", a, ref.Digest, f.trusted.KeyID())
	}
	// The timeline holds the build, the signed attestation and the ledger's own record,
	// each with the pipeline's trace id where it carried one.
	types := map[string]ledger.TimelineJSON{}
	for _, e := range doc.Timeline {
		types[e.Type] = e
	}
	for _, typ := range []string{events.TypeBuildCompleted, events.TypeAttestationSigned, events.TypeAttestationRecorded} {
		e, ok := types[typ]
		if !ok {
			t.Errorf("timeline has no %s: %+v", typ, doc.Timeline)
			continue
		}
		if typ != events.TypeAttestationRecorded && e.TraceID != traceID {
			t.Errorf("%s trace id = %q, want %s", typ, e.TraceID, traceID)
		}
	}
}

func TestRejectedAttestationsAreDeadLetteredNotRecorded(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		event  func(digest string) *eventsv1.AttestationSigned
		reason string
	}{
		{"untrusted key", func(d string) *eventsv1.AttestationSigned {
			ev, _ := f.signedAttestation(t, f.untrusted, d, d)
			return ev
		}, "no valid signature from a trusted key"},
		{"statement about another artifact", func(d string) *eventsv1.AttestationSigned {
			ev, _ := f.signedAttestation(t, f.trusted, digestOf("someone else"), d)
			return ev
		}, "statement subject does not name the artifact"},
		{"not an envelope", func(d string) *eventsv1.AttestationSigned {
			ref, err := f.blobs.Put(context.Background(), attestation.MediaTypeDSSE, []byte(`{"payloadType":`))
			if err != nil {
				t.Fatal(err)
			}
			return &eventsv1.AttestationSigned{Digest: d, PredicateType: attestation.PredicateSLSAProvenanceV1,
				Envelope: &eventsv1.BlobRef{Digest: ref.Digest}, KeyId: f.trusted.KeyID()}
		}, "malformed envelope"},
		{"malformed envelope digest", func(d string) *eventsv1.AttestationSigned {
			return &eventsv1.AttestationSigned{Digest: d, Envelope: &eventsv1.BlobRef{Digest: "sha256:../../etc/passwd"}}
		}, "envelope digest"},
		{"event digest contradicts ce-subject", func(d string) *eventsv1.AttestationSigned {
			ev, _ := f.signedAttestation(t, f.trusted, digestOf("other"), digestOf("other"))
			return ev
		}, "does not match the payload's digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			digest := digestOf("rejected " + tc.name)
			before := f.count(t, f.subject(t, events.TypeAttestationRecorded))
			pub := f.publish(t, context.Background(), events.Event{
				Type: events.TypeAttestationSigned, Subject: digest, Data: tc.event(digest),
			})
			dl := f.lastDeadLetterFor(t, pub.ID)
			if reason := dl.Header.Get(events.HeaderDLQReason); !strings.Contains(reason, tc.reason) {
				t.Errorf("dead-letter reason %q does not say %q", reason, tc.reason)
			}
			if c := dl.Header.Get(events.HeaderDLQConsumer); c != ledger.ConsumerName {
				t.Errorf("dead-lettered by %q, want %q", c, ledger.ConsumerName)
			}
			atts, err := f.store.AttestationsFor(context.Background(), digest)
			if err != nil || len(atts) != 0 {
				t.Errorf("attestations recorded for %s: %+v, %v; want none", digest, atts, err)
			}
			if after := f.count(t, f.subject(t, events.TypeAttestationRecorded)); after != before {
				t.Errorf("attestation.recorded published %d times for a rejected envelope", after-before)
			}
			// The event and its dead letter are in the history: an auditor sees the attempt
			// and why it was refused.
			f.waitIdle(t)
			doc := f.snapshot(t, digest)
			if len(doc.Attestations) != 0 {
				t.Errorf("provenance attestations = %+v, want none", doc.Attestations)
			}
			var ids []string
			for _, e := range doc.Timeline {
				ids = append(ids, e.Type)
			}
			if len(doc.Timeline) != 2 || doc.Timeline[0].ID != pub.ID || doc.Timeline[1].Type != events.TypeDeadLetter {
				t.Fatalf("timeline = %v, want the signed event, then its dead letter", ids)
			}
			dlEntry := doc.Timeline[1]
			if dlEntry.DeadLetter == nil || dlEntry.DeadLetter.Consumer != ledger.ConsumerName ||
				!strings.Contains(dlEntry.DeadLetter.Reason, tc.reason) || dlEntry.DeadLetter.OriginalID != pub.ID ||
				dlEntry.ID == pub.ID {
				t.Errorf("dead-letter entry = %+v (%+v), want the ledger's record of %s with its reason", dlEntry, dlEntry.DeadLetter, pub.ID)
			}
		})
	}
}

// lastDeadLetterFor waits for the ledger's dead-letter record of event id.
func (f *fixture) lastDeadLetterFor(t *testing.T, id string) *jetstream.RawStreamMsg {
	t.Helper()
	subj := f.env.Config.DeadLetterSubject(ledger.ConsumerName)
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := f.last(t, subj)
		if m.Header.Get(events.HeaderID) == id {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter for event %s on %s", id, subj)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedeliveryIsIdempotent(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("redelivered")
	ctx := context.Background()
	f.publish(t, ctx, events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: buildEvent(digest)})
	signed, _ := f.signedAttestation(t, f.trusted, digest, digest)
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: digest, Data: signed})
	// The same attestation announced again under another event id (a retrying attestor
	// outside the de-duplication window).
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: digest, Data: signed, ID: "attestor-retry-1"})
	f.last(t, f.subject(t, events.TypeAttestationRecorded))
	f.waitIdle(t)
	first := f.snapshot(t, digest)

	// Replay the whole stream: a new service after its consumer was lost.
	if err := f.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.env.JS.DeleteConsumer(ctx, f.env.Config.Stream, ledger.ConsumerName); err != nil {
		t.Fatal(err)
	}
	f.svc = f.start(t)
	f.waitIdle(t)
	again := f.snapshot(t, digest)

	if len(first.Attestations) != 1 || first.Build == nil {
		t.Fatalf("first pass: %d attestations, build %v; want 1 and a build", len(first.Attestations), first.Build)
	}
	if n := f.count(t, f.subject(t, events.TypeAttestationRecorded)); n != 1 {
		t.Errorf("attestation.recorded stored %d times, want 1 (same content, same id)", n)
	}
	firstJSON, _ := json.Marshal(first)
	againJSON, _ := json.Marshal(again)
	if string(firstJSON) != string(againJSON) {
		t.Errorf("replay changed the record:\nbefore %s\nafter  %s", firstJSON, againJSON)
	}
	// build, 2 x attestation.signed, attestation.recorded: each once.
	if len(again.Timeline) != 4 {
		t.Errorf("timeline has %d events after replay, want 4: %+v", len(again.Timeline), again.Timeline)
	}
}

func (f *fixture) snapshot(t *testing.T, digest string) ledger.ProvenanceJSON {
	t.Helper()
	var doc ledger.ProvenanceJSON
	if resp := f.get(t, "/v1/artifacts/"+digest+"/provenance", &doc); resp.StatusCode != http.StatusOK {
		t.Fatalf("provenance status %d", resp.StatusCode)
	}
	return doc
}

func TestPromotionLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	digest := digestOf("promoted")
	image := "staging.example/app@" + digest
	policy := digestOf("policy")
	publish := func(typ string, m proto.Message) {
		f.publish(t, ctx, events.Event{Type: typ, Subject: digest, Data: m})
	}

	publish(events.TypePromotionRequested, &eventsv1.PromotionRequested{
		RequestId: "req-allowed", Image: image, Digest: digest, Destination: "prod.example/app:1", RequestedBy: "alice"})
	publish(events.TypePromotionRequested, &eventsv1.PromotionRequested{
		RequestId: "req-denied", Image: image, Digest: digest, Destination: "prod.example/app:2", RequestedBy: "bob"})
	f.waitIdle(t)
	var st ledger.PromotionStatusJSON
	if resp := f.get(t, "/v1/promotions/req-allowed", &st); resp.StatusCode != http.StatusOK || st.Status != "requested" {
		t.Fatalf("before a decision: %d %+v, want requested", resp.StatusCode, st)
	}

	publish(events.TypePromotionDecided, &eventsv1.PromotionDecided{
		RequestId: "req-allowed", Image: image, Digest: digest, Destination: "prod.example/app:1",
		Decision: eventsv1.Decision_DECISION_ALLOWED, Reasons: []string{"provenance signed by a trusted key"},
		PolicyName: "prod", PolicyDigest: policy, AttestationDigests: []string{digestOf("envelope")},
		DecidedAt: timestamppb.Now()})
	// An unspecified decision is a denial.
	publish(events.TypePromotionDecided, &eventsv1.PromotionDecided{
		RequestId: "req-denied", Image: image, Digest: digest, Destination: "prod.example/app:2",
		Reasons: []string{"no SBOM attestation"}, PolicyName: "prod", PolicyDigest: policy})
	publish(events.TypePromotionCompleted, &eventsv1.PromotionCompleted{
		RequestId: "req-allowed", Image: image, Digest: digest, Destination: "prod.example/app:1",
		DestinationImage: "prod.example/app@" + digest, AttachmentsCopied: 2})
	f.waitIdle(t)

	for _, tc := range []struct {
		id   string
		want ledger.PromotionStatusJSON
	}{
		{"req-allowed", ledger.PromotionStatusJSON{RequestID: "req-allowed", Digest: digest, Destination: "prod.example/app:1",
			Status: "completed", Reasons: []string{"provenance signed by a trusted key"}, PolicyDigest: policy,
			DestinationImage: "prod.example/app@" + digest}},
		{"req-denied", ledger.PromotionStatusJSON{RequestID: "req-denied", Digest: digest, Destination: "prod.example/app:2",
			Status: "denied", Reasons: []string{"no SBOM attestation"}, PolicyDigest: policy}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			var got ledger.PromotionStatusJSON
			if resp := f.get(t, "/v1/promotions/"+tc.id, &got); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got.RequestedAt, got.DecidedAt, got.FinishedAt = "", "", ""
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("promotion status\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
	doc := f.snapshot(t, digest)
	if len(doc.Decisions) != 2 || len(doc.Promotions) != 2 {
		t.Fatalf("provenance decisions %+v promotions %+v; want two of each", doc.Decisions, doc.Promotions)
	}
	verdicts := map[string]string{}
	for _, d := range doc.Decisions {
		verdicts[d.RequestID] = d.Decision
	}
	if verdicts["req-allowed"] != "allowed" || verdicts["req-denied"] != "denied" {
		t.Errorf("decisions = %v", verdicts)
	}
	if doc.Image != image {
		t.Errorf("image = %q, want the promotion's source %q (no build recorded)", doc.Image, image)
	}
}

func TestMalformedEventsAreDeadLettered(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("malformed")
	for _, tc := range []struct {
		name string
		typ  string
		data proto.Message
	}{
		{"build with a bad digest", events.TypeBuildCompleted, &eventsv1.BuildCompleted{Digest: "sha256:XYZ"}},
		{"promotion without request id", events.TypePromotionRequested, &eventsv1.PromotionRequested{Digest: digest}},
		{"scan of another digest", events.TypeScanCompleted, &eventsv1.ScanCompleted{Digest: digestOf("elsewhere")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := f.publish(t, context.Background(), events.Event{Type: tc.typ, Subject: digest, Data: tc.data})
			dl := f.lastDeadLetterFor(t, pub.ID)
			if dl.Header.Get(events.HeaderDLQReason) == "" {
				t.Error("dead letter has no reason")
			}
		})
	}
	// The ledger records its own dead letters without dead-lettering them again: one
	// record per refused event, and the consumer comes to rest.
	f.waitIdle(t)
	if n := f.count(t, f.env.Config.DeadLetterSubject(ledger.ConsumerName)); n != 3 {
		t.Errorf("%d dead-letter records, want 3", n)
	}
}

func TestNewRejectsMissingParts(t *testing.T) {
	f := newFixture(t)
	for name, build := range map[string]func() (*ledger.Service, error){
		"nil bus":      func() (*ledger.Service, error) { return ledger.New(nil, f.blobs, f.store, f.verifier) },
		"nil blobs":    func() (*ledger.Service, error) { return ledger.New(f.bus, nil, f.store, f.verifier) },
		"nil store":    func() (*ledger.Service, error) { return ledger.New(f.bus, f.blobs, nil, f.verifier) },
		"nil verifier": func() (*ledger.Service, error) { return ledger.New(f.bus, f.blobs, f.store, nil) },
		"bad option": func() (*ledger.Service, error) {
			return ledger.New(f.bus, f.blobs, f.store, f.verifier, ledger.WithConcurrency(0))
		},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := build(); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
	if err := f.svc.Start(context.Background()); err == nil {
		t.Error("second Start succeeded, want an error")
	}
	for range 2 {
		if err := f.svc.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
}

//go:build e2e

package browsertest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
	"github.com/custody-dev/custody/services/ledger/pages"
)

// What the journey records.
const (
	sourceRepo   = "https://git.example/app"
	commit       = "0123abc"
	builderID    = "urn:custody:builder:e2e"
	allowedReq   = "req-allowed"
	deniedReq    = "req-denied"
	allowedDest  = "prod.example/app:1"
	deniedDest   = "vault.example/app:1"
	allowReason  = "provenance: signed by a trusted key"
	hostileText  = `<script>alert("xss")</script>`
	openSSLPURL  = "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12"
	cdxMediaType = "application/vnd.cyclonedx+json"
)

// sbomDoc is the scan's CycloneDX SBOM: one Debian package.
var sbomDoc = []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[` +
	`{"type":"library","name":"openssl","version":"3.0.11-1~deb12u1","purl":"` + openSSLPURL + `"}]}`)

// server is the pages over a real ledger, served on loopback over plain HTTP.
type server struct {
	url      string
	token    string // an auditor's static API token
	digest   string // the recorded artifact
	traceID  string // the trace its journey ran in
	sessions *auth.Sessions
	envelope string // the attestation's envelope digest
}

// logWriter sends log lines to the test's log until the test ends.
type logWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func newLogWriter(t *testing.T) *logWriter {
	w := &logWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return w
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// startServer starts a ledger on embedded NATS (or CUSTODY_TEST_NATS_URL's server), a
// memory blob store and SQLite, records one artifact's journey through its consumer,
// and serves the pages over the ledger's AuditService behind a page guard.
func startServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(newLogWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
	env := eventstest.New(t)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	bus := env.Bus(t, events.WithSource("custody/e2e"), events.WithTracerProvider(tp))
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	signer := signingtest.New(t)
	key, err := verify.ParseTrustedKeyPEM("e2e", signer.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := verify.NewVerifier([]verify.TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "custody.e2e/ledger")
	if err != nil {
		t.Fatal(err)
	}
	logSigner, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{digest: "sha256:" + strings.Repeat("e2", 32), token: auth.GenerateToken()}
	tokens, err := auth.NewTokenStore(auth.TokenEntry{Name: "auditor-e2e", SHA256: auth.HashToken(s.token), Roles: []auth.Role{auth.RoleAuditor}})
	if err != nil {
		t.Fatal(err)
	}
	if s.sessions, err = auth.NewSessions(); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(auth.WithTokens(tokens), auth.WithSessions(s.sessions))
	if err != nil {
		t.Fatal(err)
	}
	// The pages' guard: the session cookie, and a redirect to the login form.
	guard, err := auth.NewGuard(authn, log, auth.WithSessionAuth(), auth.WithLoginRedirect(pages.LoginPath))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ledgersvc.New(bus, blobs, store, verifier, ledgersvc.WithLogger(log), ledgersvc.WithLogSigner(logSigner, vkey),
		ledgersvc.WithRetryBackoff(50*time.Millisecond),
		// As servers do: the API's own checks decide what the pages show.
		ledgersvc.WithAuthorizer(guard),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })

	s.traceID, s.envelope = recordJourney(t, bus, blobs, tp, signer, s.digest)
	waitRecorded(t, store, s.digest)

	ui, err := pages.New(svc.AuditService(), guard, pages.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui) // 127.0.0.1, plain HTTP: a potentially trustworthy origin
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// recordJourney publishes, in one trace, a build of digest, a signed SLSA provenance
// attestation, a complete scan with an SBOM, an allowed and completed promotion and a
// denied one (whose reason is hostile markup). It returns the trace id and the
// attestation's envelope digest.
func recordJourney(t *testing.T, bus *events.Bus, blobs *blob.Store, tp *sdktrace.TracerProvider, signer *signing.Signer, digest string) (string, string) {
	t.Helper()
	ctx, span := tp.Tracer("e2e").Start(context.Background(), "pipeline")
	defer span.End()
	publish := func(typ string, data proto.Message) {
		t.Helper()
		if _, err := bus.Publish(ctx, events.Event{Type: typ, Subject: digest, Data: data}); err != nil {
			t.Fatalf("publish %s: %v", typ, err)
		}
	}
	image := "reg.example/app@" + digest
	build := &eventsv1.BuildCompleted{Image: image, Digest: digest, SourceRepository: sourceRepo, SourceRef: "refs/heads/main",
		Commit: commit, BuilderId: builderID, BuildType: "https://custody.dev/build/v1",
		StartedAt:  timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		FinishedAt: timestamppb.New(time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC))}
	publish(events.TypeBuildCompleted, build)

	stmt, err := attestation.Provenance(build)
	if err != nil {
		t.Fatal(err)
	}
	envelope, err := signer.Sign(ctx, signing.PayloadTypeInToto, stmt)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := blobs.Put(ctx, attestation.MediaTypeDSSE, envelope)
	if err != nil {
		t.Fatal(err)
	}
	publish(events.TypeAttestationSigned, &eventsv1.AttestationSigned{Image: image, Digest: digest,
		PredicateType: attestation.PredicateSLSAProvenanceV1, KeyId: signer.KeyID(),
		Envelope: &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}})

	sbom, err := blobs.Put(ctx, cdxMediaType, sbomDoc)
	if err != nil {
		t.Fatal(err)
	}
	publish(events.TypeScanCompleted, &eventsv1.ScanCompleted{Image: image, Digest: digest,
		Status: eventsv1.ScanStatus_SCAN_STATUS_COMPLETE, PackageCount: 1, Scanner: "custody-scanner/e2e",
		Sbom: &eventsv1.BlobRef{Digest: sbom.Digest, MediaType: sbom.MediaType, Size: sbom.Size}})

	for _, r := range []struct {
		id, dest string
		verdict  eventsv1.Decision
		reason   string
	}{{allowedReq, allowedDest, eventsv1.Decision_DECISION_ALLOWED, allowReason},
		{deniedReq, deniedDest, eventsv1.Decision_DECISION_DENIED, "secrets: " + hostileText}} {
		publish(events.TypePromotionRequested, &eventsv1.PromotionRequested{RequestId: r.id, Image: image, Digest: digest,
			Destination: r.dest, RequestedBy: "ci"})
		publish(events.TypePromotionDecided, &eventsv1.PromotionDecided{RequestId: r.id, Image: image, Digest: digest,
			Destination: r.dest, Decision: r.verdict, PolicyName: "prod", PolicyDigest: "sha256:" + strings.Repeat("0f", 32),
			AttestationDigests: []string{ref.Digest}, Reasons: []string{r.reason}})
	}
	publish(events.TypePromotionCompleted, &eventsv1.PromotionCompleted{RequestId: allowedReq, Image: image, Digest: digest,
		Destination: allowedDest, DestinationImage: "prod.example/app@" + digest})
	return span.SpanContext().TraceID().String(), ref.Digest
}

// waitRecorded waits until the ledger has recorded the whole journey.
func waitRecorded(t *testing.T, store ledger.Store, digest string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := store.Provenance(context.Background(), digest)
		if err == nil && p.Build != nil && len(p.Attestations) == 1 && len(p.Scans) == 1 && len(p.Decisions) == 2 &&
			len(p.Promotions) == 2 && promotionDone(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger did not record the journey in time: %+v, %v", p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func promotionDone(p *ledger.Provenance) bool {
	for _, pr := range p.Promotions {
		if pr.RequestID == allowedReq && pr.Status == ledger.PromotionCompleted {
			return true
		}
	}
	return false
}

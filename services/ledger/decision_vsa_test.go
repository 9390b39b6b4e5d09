package ledger_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ledger"
)

// With decision keys, the ledger records a decision only when the gate's key signed its
// VSA and the VSA says what the event says: bus access alone cannot forge the record
// auditors read.
func TestDecisionsNeedTheGatesVSA(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	gateKey := signingtest.New(t)
	tk, err := verify.ParseTrustedKeyPEM("gate", gateKey.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	decisions, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	// A second ledger service on the same parts, checking decisions (its consumer name is
	// the same durable: the fixture's own service is stopped first).
	if err := f.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := ledger.New(f.bus, f.blobs, f.store, f.verifier, ledger.WithRetryBackoff(50*time.Millisecond),
		ledger.WithLogger(slog.New(slog.NewTextHandler(f.log, nil))), ledger.WithDecisionKeys(decisions))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })

	digest := digestOf("vsa-checked")
	image := "staging.example/app@" + digest
	env := digestOf("envelope")
	vsa := func(s *signing.Signer, requestID string, passed bool) *eventsv1.BlobRef {
		t.Helper()
		in := attestation.VSAInput{
			VerifierID: "https://custody.dev/gate", Image: image, Digest: digest, TimeVerified: time.Now(),
			PolicyURI: "urn:custody:policy:prod", PolicyDigest: digestOf("policy"), Passed: passed,
			Decision: attestation.VSADecision{RequestID: requestID, Destination: "prod.example/app:1", PolicyName: "prod", Reasons: []string{"test"}},
		}
		if passed {
			in.InputAttestations = []string{env}
			in.Decision.RecordedAt = map[string]time.Time{env: time.Now()}
		}
		st, err := attestation.VSA(in)
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Sign(ctx, signing.PayloadTypeInToto, st)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := f.blobs.Put(ctx, attestation.MediaTypeDSSE, e)
		if err != nil {
			t.Fatal(err)
		}
		return &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}
	}
	decided := func(requestID string, ref *eventsv1.BlobRef) {
		t.Helper()
		f.publish(t, ctx, events.Event{Type: events.TypePromotionDecided, Subject: digest, Data: &eventsv1.PromotionDecided{
			RequestId: requestID, Image: image, Digest: digest, Destination: "prod.example/app:1",
			Decision: eventsv1.Decision_DECISION_ALLOWED, PolicyName: "prod", PolicyDigest: digestOf("policy"),
			AttestationDigests: []string{env}, Vsa: ref,
		}})
	}
	decided("genuine", vsa(gateKey, "genuine", true))
	decided("no-vsa", nil)
	decided("evidence-key", vsa(f.trusted, "evidence-key", true))
	decided("failed-flipped", vsa(gateKey, "failed-flipped", false))
	decided("other-request", vsa(gateKey, "genuine", true))
	f.waitIdle(t)

	for id, want := range map[string]int{"genuine": http.StatusOK, "no-vsa": http.StatusNotFound, "evidence-key": http.StatusNotFound,
		"failed-flipped": http.StatusNotFound, "other-request": http.StatusNotFound} {
		var st ledger.PromotionStatusJSON
		if resp := f.get(t, "/v1/promotions/"+id, &st); resp.StatusCode != want {
			t.Errorf("promotion %s: status %d (%+v), want %d", id, resp.StatusCode, st, want)
		}
	}
}

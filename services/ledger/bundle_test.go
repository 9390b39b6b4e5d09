package ledger_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

func getBundle(t *testing.T, f *fixture, digest string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/v1/artifacts/" + digest + "/bundle")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") != bundle.MediaType {
		t.Errorf("bundle Content-Type = %q, want %q", resp.Header.Get("Content-Type"), bundle.MediaType)
	}
	return resp.StatusCode, body
}

// TestBundleVerifiesOffline records an attestation, a decision and a promotion through
// the ledger, exports the digest's bundle and verifies it with the trusted key and the
// log key alone; the ledger's log entries must be what package bundle expects.
func TestBundleVerifiesOffline(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	digest, other := digestOf("bundled"), digestOf("other artifact")
	signed, ref := f.signedAttestation(t, f.trusted, digest, digest)
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: digest, Data: signed})
	otherSigned, _ := f.signedAttestation(t, f.trusted, other, other)
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: other, Data: otherSigned})
	f.waitIdle(t)
	f.publish(t, ctx, events.Event{Type: events.TypePromotionRequested, Subject: digest, Data: &eventsv1.PromotionRequested{
		RequestId: "req-1", Image: "reg.example/app@" + digest, Digest: digest, Destination: "prod.example/app:1", RequestedBy: "ci",
	}})
	f.publish(t, ctx, events.Event{Type: events.TypePromotionDecided, Subject: digest, Data: &eventsv1.PromotionDecided{
		RequestId: "req-1", Image: "reg.example/app@" + digest, Digest: digest, Destination: "prod.example/app:1",
		Decision: eventsv1.Decision_DECISION_ALLOWED, PolicyName: "prod", PolicyDigest: digestOf("policy"),
		AttestationDigests: []string{ref.Digest}, Reasons: []string{"ok"},
	}})
	f.waitIdle(t)

	status, body := getBundle(t, f, digest)
	if status != http.StatusOK {
		t.Fatalf("GET bundle = %d %s", status, body)
	}
	b, err := bundle.Parse(body)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	key, err := verify.ParseTrustedKeyPEM("trusted", f.trusted.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	res, err := bundle.Verify(ctx, b, []verify.TrustedKey{key}, bundle.WithLogKey(f.logKey))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Attestations) != 1 || res.Attestations[0].EnvelopeDigest != ref.Digest || len(res.Decisions) != 1 ||
		res.Decisions[0].Verdict != "allowed" || len(res.Promotions) != 1 || res.Promotions[0].Status != "allowed" ||
		res.LogSize != 3 || !res.LogKeyPinned {
		t.Errorf("Result = %+v, want the attestation, an allowed decision and promotion, in a log of 3", res)
	}
	if len(b.Keys) != 1 || b.Keys[0].KeyID != f.trusted.KeyID() || b.Keys[0].PEM != string(f.trusted.PublicKeyPEM()) {
		t.Errorf("bundle keys = %+v, want the trusted key", b.Keys)
	}
	if len(b.Decisions) != 1 || b.Decisions[0].Destination != "prod.example/app:1" || b.Decisions[0].PolicyName != "prod" {
		t.Errorf("bundle decisions = %+v", b.Decisions)
	}

	// A changed byte in the exported document is caught.
	tampered := strings.Replace(string(body), `"verdict":"allowed"`, `"verdict":"denied"`, 1)
	if tb, err := bundle.Parse([]byte(tampered)); err == nil {
		if _, err := bundle.Verify(ctx, tb, []verify.TrustedKey{key}, bundle.WithLogKey(f.logKey)); err == nil ||
			!strings.Contains(err.Error(), "verdict differ from log entry") {
			t.Errorf("Verify of a bundle whose verdict was changed = %v, want a verdict mismatch", err)
		}
	}
}

func TestBundleErrors(t *testing.T) {
	f := newFixture(t)
	if status, body := getBundle(t, f, digestOf("never recorded")); status != http.StatusNotFound ||
		!strings.Contains(string(body), "nothing is recorded") {
		t.Errorf("bundle of an unknown digest = %d %s, want 404", status, body)
	}
	if status, _ := getBundle(t, f, "sha256:nope"); status != http.StatusBadRequest {
		t.Errorf("bundle of a malformed digest = %d, want 400", status)
	}
}

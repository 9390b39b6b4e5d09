package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/tlog"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ledger"
)

func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// checkpoint fetches, verifies and returns the ledger's current checkpoint.
func (f *fixture) checkpoint(t *testing.T, verifier note.Verifier) tlog.Checkpoint {
	t.Helper()
	status, body := getText(t, f.srv.URL+"/v1/log/checkpoint")
	if status != http.StatusOK {
		t.Fatalf("checkpoint: %d %s", status, body)
	}
	cp, err := tlog.Open([]byte(body), verifier)
	if err != nil {
		t.Fatalf("open checkpoint %q: %v", body, err)
	}
	return cp
}

func TestLogOverAttestationsAndDecisions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	digest := digestOf("logged")
	signed, ref := f.signedAttestation(t, f.trusted, digest, digest)
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: digest, Data: signed})
	f.waitIdle(t)
	decided := &eventsv1.PromotionDecided{
		RequestId: "req-1", Image: "staging.example/app@" + digest, Digest: digest, Destination: "prod.example/app:1",
		Decision: eventsv1.Decision_DECISION_ALLOWED, PolicyName: "prod", PolicyDigest: digestOf("policy"),
		AttestationDigests: []string{ref.Digest},
	}
	f.publish(t, ctx, events.Event{Type: events.TypePromotionDecided, Subject: digest, Data: decided})
	// The same attestation announced again is not logged twice.
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: digest, Data: signed})
	f.waitIdle(t)

	status, vkey := getText(t, f.srv.URL+"/v1/log/key")
	if status != http.StatusOK || strings.TrimSpace(vkey) != f.logKey {
		t.Fatalf("log key = %d %q, want %q", status, vkey, f.logKey)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		t.Fatal(err)
	}
	cp := f.checkpoint(t, verifier)
	if cp.Size != 2 || cp.Origin != "custody.test/ledger" {
		t.Fatalf("checkpoint = %+v, want size 2 of custody.test/ledger", cp)
	}

	var page ledger.LogEntriesJSON
	if resp := f.get(t, "/v1/log/entries?start=0&end=100", &page); resp.StatusCode != http.StatusOK || len(page.Entries) != 2 {
		t.Fatalf("entries: %d %+v, want 2", resp.StatusCode, page)
	}
	var hashes [][]byte
	for _, e := range page.Entries {
		hashes = append(hashes, tlog.LeafHash(e.Entry))
	}
	if root, _ := tlog.Root(hashes); string(root) != string(cp.Root) {
		t.Errorf("root over the served entries %x != checkpoint root %x", root, cp.Root)
	}
	var att bundle.AttestationLeaf
	if err := json.Unmarshal(page.Entries[0].Entry, &att); err != nil || att.Kind != "attestation" ||
		att.EnvelopeDigest != ref.Digest || att.SubjectDigest != digest || len(att.KeyIDs) != 1 {
		t.Errorf("entry 0 = %s (%v), want the attestation of %s", page.Entries[0].Entry, err, ref.Digest)
	}
	var dec bundle.DecisionLeaf
	if err := json.Unmarshal(page.Entries[1].Entry, &dec); err != nil || dec.Kind != "decision" ||
		dec.RequestID != "req-1" || dec.Verdict != "allowed" || dec.AttestationDigests[0] != ref.Digest {
		t.Errorf("entry 1 = %s (%v), want the decision of req-1", page.Entries[1].Entry, err)
	}
	var doc ledger.ProvenanceJSON
	f.get(t, "/v1/artifacts/"+digest+"/provenance", &doc)
	if len(doc.Attestations) != 1 || doc.Attestations[0].LogIndex != 0 {
		t.Errorf("provenance attestations = %+v, want one at log index 0", doc.Attestations)
	}
	if len(doc.Decisions) != 1 || doc.Decisions[0].LogIndex != 1 {
		t.Errorf("provenance decisions = %+v, want one at log index 1", doc.Decisions)
	}

	var incl ledger.InclusionProofJSON
	if resp := f.get(t, "/v1/log/proof/inclusion?index=1&size=2", &incl); resp.StatusCode != http.StatusOK {
		t.Fatalf("inclusion proof: %d", resp.StatusCode)
	}
	if err := tlog.VerifyInclusion(1, 2, hashes[1], incl.Proof, cp.Root); err != nil {
		t.Errorf("inclusion proof of entry 1: %v", err)
	}

	// A later decision grows the log; the new checkpoint is consistent with the old.
	decided.RequestId = "req-2"
	f.publish(t, ctx, events.Event{Type: events.TypePromotionDecided, Subject: digest, Data: decided})
	f.waitIdle(t)
	cp2 := f.checkpoint(t, verifier)
	if cp2.Size != 3 {
		t.Fatalf("checkpoint after another decision has size %d, want 3", cp2.Size)
	}
	var cons ledger.ConsistencyProofJSON
	if resp := f.get(t, "/v1/log/proof/consistency?from=2&to=3", &cons); resp.StatusCode != http.StatusOK {
		t.Fatalf("consistency proof: %d", resp.StatusCode)
	}
	if err := tlog.VerifyConsistency(2, 3, cons.Proof, cp.Root, cp2.Root); err != nil {
		t.Errorf("consistency 2 -> 3: %v", err)
	}

	for _, path := range []string{
		"/v1/log/proof/inclusion?index=2&size=2", "/v1/log/proof/inclusion?index=0&size=9",
		"/v1/log/proof/consistency?from=3&to=2", "/v1/log/proof/consistency?from=1&to=9",
		"/v1/log/entries?start=x&end=1", "/v1/log/entries?start=-1&end=1", "/v1/log/proof/inclusion?index=0",
	} {
		if resp := f.get(t, path, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", path, resp.StatusCode)
		}
	}
}

func TestLogWithoutKeyServesNoCheckpoint(t *testing.T) {
	f := newFixture(t)
	svc, err := ledger.New(f.bus, f.blobs, f.store, f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	for _, path := range []string{"/v1/log/checkpoint", "/v1/log/key"} {
		if status, body := getText(t, srv.URL+path); status != http.StatusNotFound {
			t.Errorf("GET %s without a log key = %d %s, want 404", path, status, body)
		}
	}
}

func TestWithLogSignerRejectsMismatchedKey(t *testing.T) {
	f := newFixture(t)
	_, otherKey, err := note.GenerateKey(rand.Reader, "custody.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.New(f.bus, f.blobs, f.store, f.verifier, ledger.WithLogSigner(f.logSigner, otherKey)); err == nil {
		t.Error("New with a verifier key of another key = nil error, want one")
	}
	if _, err := ledger.New(f.bus, f.blobs, f.store, f.verifier, ledger.WithLogSigner(f.logSigner, "garbage")); err == nil {
		t.Error("New with a malformed verifier key = nil error, want one")
	}
}

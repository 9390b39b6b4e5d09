package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/bundle"
	pledger "github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// recordGolden writes one artifact's records straight into the store, with fixed
// times, ids and log positions, so that its provenance answer is the same every run.
func recordGolden(t *testing.T, store pledger.Store, digest string) {
	t.Helper()
	ctx := context.Background()
	at := func(min int) time.Time { return time.Date(2026, 3, 1, 12, min, 0, 0, time.UTC) }
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	envelope, policy := digestOf("golden envelope"), digestOf("golden policy")
	must(store.PutBuild(ctx, pledger.PutBuildRequest{Build: pledger.Build{
		Digest: digest, Image: "reg.example/app@" + digest, SourceRepository: "https://git.example/app", SourceRef: "refs/heads/main",
		Commit: "0123456789abcdef0123456789abcdef01234567", BuilderID: "https://ci.example/builder", BuildType: "https://custody.dev/build/v1",
		InvocationID: "run-7", StartedAt: at(0), FinishedAt: at(5), EventID: "ev-build",
	}}))
	logged := func(kind, key string) int64 {
		resp, err := store.AppendLog(ctx, pledger.AppendLogRequest{Kind: kind, Key: key, Entry: []byte(`{"k":"` + kind + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Index
	}
	must(store.PutAttestation(ctx, pledger.PutAttestationRequest{Attestation: pledger.Attestation{
		EnvelopeDigest: envelope, SubjectDigest: digest, Image: "reg.example/app@" + digest,
		PredicateType: "https://slsa.dev/provenance/v1", KeyIDs: []string{"4f1c"},
		Envelope:   pledger.Blob{Digest: envelope, MediaType: "application/vnd.dsse.envelope.v1+json", Size: 1234},
		Attachment: "reg.example/app:sha256-" + strings.TrimPrefix(digest, "sha256:") + ".att", EventID: "ev-att",
		RecordedAt: at(6), LogIndex: logged(bundle.KindAttestation, envelope+" "+digest),
	}}))
	must(store.PutScan(ctx, pledger.PutScanRequest{Scan: pledger.Scan{
		Digest: digest, Image: "reg.example/app@" + digest, Status: pledger.ScanComplete, SBOMDigest: digestOf("golden sbom"),
		PackageCount: 42, Scanner: "custody-scanner/1", BuildEventID: "ev-build", ScannedAt: at(7), EventID: "ev-scan",
	}}))
	must(store.UpdatePromotion(ctx, pledger.UpdatePromotionRequest{Promotion: pledger.Promotion{
		RequestID: "req-golden", Digest: digest, SourceImage: "reg.example/app@" + digest, Destination: "prod.example/app:1",
		RequestedBy: "ci", Status: pledger.PromotionRequested, RequestedAt: at(8),
	}}))
	must(store.PutDecision(ctx, pledger.PutDecisionRequest{Decision: pledger.Decision{
		RequestID: "req-golden", Digest: digest, Image: "reg.example/app@" + digest, Destination: "prod.example/app:1",
		Verdict: pledger.Allowed, Reasons: []string{"provenance: signed by 4f1c"}, PolicyName: "prod", PolicyDigest: policy,
		AttestationDigests: []string{envelope}, DecidedAt: at(9), EventID: "ev-decided",
	}}))
	logged(bundle.KindDecision, "ev-decided")
	must(store.UpdatePromotion(ctx, pledger.UpdatePromotionRequest{Promotion: pledger.Promotion{
		RequestID: "req-golden", Status: pledger.PromotionCompleted, DecidedAt: at(9), FinishedAt: at(10),
		DestinationImage: "prod.example/app@" + digest,
	}}))
	for i, e := range []struct{ id, typ string }{
		{"ev-build", "custody.build.completed"}, {"ev-att", "custody.attestation.signed"}, {"ev-scan", "custody.scan.completed"},
		{"ev-decided", "custody.promotion.decided"},
	} {
		must(store.RecordEvent(ctx, pledger.RecordEventRequest{Event: pledger.Event{
			ID: e.id, Type: e.typ, Source: "custody/test", Subject: digest, Time: at(i), NATSSubject: e.typ,
			StreamSequence: uint64(i + 1), TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		}}))
	}
	must(store.RecordEvent(ctx, pledger.RecordEventRequest{Event: pledger.Event{
		ID: "dlq-1", Type: "custody.dlq", Source: "custody/scanner", Subject: digest, Time: at(11), NATSSubject: "custody.dlq.scanner",
		StreamSequence: 9, DeadLetter: &pledger.DeadLetter{Consumer: "scanner", Reason: "registry unavailable", OriginalID: "ev-build", Attempts: 5},
	}}))
}

// TestAuditProvenanceGolden pins the JSON of one GetProvenance answer: lowerCamelCase
// names, every field present, enums by name, 64-bit numbers as decimal text, and
// compact bytes that do not change between builds. Run with -update to rewrite it.
func TestAuditProvenanceGolden(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("golden")
	recordGolden(t, f.store, digest)
	resp, err := http.Post(f.srv.URL+"/"+auditv1connect.AuditServiceName+"/GetProvenance", "application/json",
		strings.NewReader(`{"artifact":"reg.example/app@`+digest+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GetProvenance = %d %s", resp.StatusCode, body)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	if !bytes.Equal(compact.Bytes(), body) {
		t.Errorf("answer is not compact JSON (its bytes would vary between builds):\n%s", body)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	golden := filepath.Join("testdata", "audit_provenance.golden.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestAuditProvenanceGolden -update to write it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("GetProvenance answer differs from %s (run with -update if the change is intended):\n%s", golden, got.Bytes())
	}
}

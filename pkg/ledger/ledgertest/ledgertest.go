package ledgertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/custody-dev/custody/pkg/ledger"
)

// Run runs the conformance suite. open must return a new, empty store for each call
// and close it when the test ends; Run also calls Close (twice) in one subtest.
func Run(t *testing.T, open func(t *testing.T) ledger.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s ledger.Store)
	}{
		{"RecordEvent", testRecordEvent},
		{"RecordEventRejectsInvalid", testRecordEventInvalid},
		{"RecordDeadLetter", testRecordDeadLetter},
		{"Timeline", testTimeline},
		{"PutBuild", testPutBuild},
		{"PutBuildRejectsInvalid", testPutBuildInvalid},
		{"PutAttestation", testPutAttestation},
		{"PutAttestationRejectsInvalid", testPutAttestationInvalid},
		{"AttestationsFor", testAttestationsFor},
		{"PutScan", testPutScan},
		{"PutScanRejectsInvalid", testPutScanInvalid},
		{"PutDecision", testPutDecision},
		{"PutDecisionRejectsInvalid", testPutDecisionInvalid},
		{"UpdatePromotion", testUpdatePromotion},
		{"UpdatePromotionOutOfOrder", testUpdatePromotionOutOfOrder},
		{"UpdatePromotionRejectsInvalid", testUpdatePromotionInvalid},
		{"PromotionStatus", testPromotionStatus},
		{"Provenance", testProvenance},
		{"ProvenanceNotFound", testProvenanceNotFound},
		{"ConcurrentWrites", testConcurrentWrites},
		{"AppendLog", testAppendLog},
		{"AppendLogRejectsInvalid", testAppendLogInvalid},
		{"ConcurrentAppendLog", testConcurrentAppendLog},
		{"LogEntryByKey", testLogEntryByKey},
		{"WriteBatch", testWriteBatch},
		{"WriteBatchRejectsInvalid", testWriteBatchRejectsInvalid},
		{"WriteBatchPackages", testWriteBatchPackages},
		{"ConcurrentBatches", testConcurrentBatches},
		{"PutVulnRecords", testPutVulnRecords},
		{"PutVulnRecordsRejectsInvalid", testPutVulnRecordsInvalid},
		{"VulnRecordsLookup", testVulnRecordsLookup},
		{"VulnDBStateEmpty", testVulnDBStateEmpty},
		{"ConcurrentVulnPuts", testConcurrentVulnPuts},
		{"VulnRecordsByID", testVulnRecordsByID},
		{"PutPackages", testPutPackages},
		{"PutPackagesRejectsInvalid", testPutPackagesInvalid},
		{"FindPackages", testFindPackages},
		{"FindPackagesRejectsInvalid", testFindPackagesInvalid},
		{"ListArtifacts", testListArtifacts},
		{"ListArtifactsPagination", testListArtifactsPagination},
		{"ListArtifactsBadCursor", testListArtifactsBadCursor},
		{"ListArtifactsRejectsInvalid", testListArtifactsInvalid},
		{"ArtifactSummaries", testArtifactSummaries},
		{"ScopeMatching", testScopeMatching},
		{"ListDecisions", testListDecisions},
		{"PingAndClose", testPingAndClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// Digest returns a valid sha256 digest derived from seed, for fixtures.
func Digest(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "sha256:" + hex.EncodeToString(sum[:])
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns base plus n seconds and a few microseconds, in a non-UTC zone, so stores
// must keep the instant and not the zone.
func at(n int) time.Time {
	return base.Add(time.Duration(n)*time.Second + 123456*time.Microsecond).In(time.FixedZone("X", 3600))
}

// ignoreStoreSet ignores the fields a store sets itself.
var ignoreStoreSet = cmp.Options{
	cmpopts.IgnoreFields(ledger.Event{}, "RecordedAt"),
	cmpopts.IgnoreFields(ledger.Attestation{}, "RecordedAt"),
	cmpopts.IgnoreFields(ledger.Promotion{}, "UpdatedAt"),
	cmpopts.EquateEmpty(),
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func event(id, typ, subject string, when time.Time, seq uint64) ledger.Event {
	return ledger.Event{
		ID: id, Type: typ, Source: "custody/test", Subject: subject, Time: when,
		NATSSubject: strings.Replace(typ, "custody", "t1", 1), StreamSequence: seq,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Payload: []byte{0x0a, 0x03, 'a', 'b', 0x00},
	}
}

func build(digest, eventID string) ledger.Build {
	return ledger.Build{
		Digest: digest, Image: "reg.example/app@" + digest, SourceRepository: "https://git.example/app",
		SourceRef: "refs/heads/main", Commit: "0123abc", BuilderID: "urn:custody:builder:test",
		BuildType: "https://custody.dev/build/v1", InvocationID: "run-1", StartedAt: at(1), FinishedAt: at(2),
		EventID: eventID,
	}
}

func attestation(subject, seed string) ledger.Attestation {
	env := Digest("envelope " + seed)
	return ledger.Attestation{
		EnvelopeDigest: env, SubjectDigest: subject, Image: "reg.example/app@" + subject,
		PredicateType: "https://slsa.dev/provenance/v1", KeyIDs: []string{"key-b", "key-a"},
		Envelope:   ledger.Blob{Digest: env, MediaType: "application/vnd.dsse.envelope.v1+json", Size: 1234},
		Attachment: "reg.example/app@" + Digest("att "+seed), EventID: "ev-att-" + seed, LogIndex: -1,
	}
}

func scan(digest, eventID string, when time.Time) ledger.Scan {
	return ledger.Scan{
		Digest: digest, Image: "reg.example/app@" + digest, Status: ledger.ScanComplete, SBOMDigest: Digest("sbom " + eventID),
		PackageCount: 42, Detail: "", Scanner: "custody-scanner/test", BuildEventID: "ev-build", ScannedAt: when,
		EventID: eventID,
	}
}

func decision(digest, requestID, eventID string, v ledger.Verdict, when time.Time) ledger.Decision {
	return ledger.Decision{
		RequestID: requestID, Digest: digest, Image: "reg.example/app@" + digest, Destination: "prod.example/app:1",
		Verdict: v, Reasons: []string{"provenance signed by key-a", "no critical vulnerabilities"},
		PolicyName: "prod", PolicyDigest: Digest("policy"), AttestationDigests: []string{Digest("envelope 1")},
		DecidedAt: when, EventID: eventID,
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

func testPingAndClose(t *testing.T, s ledger.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Ping(ctx(t)); err == nil {
		t.Error("Ping after Close = nil, want an error")
	}
}

// testConcurrentWrites checks that idempotency holds under concurrency: of many
// simultaneous writes of one record, exactly one reports Inserted.
func testConcurrentWrites(t *testing.T, s ledger.Store) {
	d := Digest("concurrent")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	errs := make(chan error, 4*n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctx(t)
			ev, err := s.RecordEvent(c, ledger.RecordEventRequest{Event: event("ev-c", "custody.build.completed", d, at(1), 1)})
			errs <- err
			att, err := s.PutAttestation(c, ledger.PutAttestationRequest{Attestation: attestation(d, "c")})
			errs <- err
			pr, err := s.UpdatePromotion(c, ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
				RequestID: "req-c", Digest: d, Status: ledger.PromotionRequested, RequestedAt: at(1),
			}})
			errs <- err
			pc, err := s.UpdatePromotion(c, ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
				RequestID: "req-c", Status: ledger.PromotionCompleted, DestinationImage: "prod.example/app@" + d,
			}})
			errs <- err
			mu.Lock()
			defer mu.Unlock()
			if ev.Inserted {
				counts["event"]++
			}
			if att.Inserted {
				counts["attestation"]++
			}
			if pr.Inserted || pc.Inserted {
				counts["promotion"]++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
	if diff := cmp.Diff(map[string]int{"event": 1, "attestation": 1, "promotion": 1}, counts); diff != "" {
		t.Errorf("inserted counts (-want +got):\n%s", diff)
	}
	st, err := s.PromotionStatus(ctx(t), "req-c")
	if err != nil {
		t.Fatal(err)
	}
	if st.Promotion.Status != ledger.PromotionCompleted || st.Promotion.DestinationImage != "prod.example/app@"+d ||
		st.Promotion.Digest != d {
		t.Errorf("promotion after concurrent updates = %+v, want completed with digest and destination image", st.Promotion)
	}
}

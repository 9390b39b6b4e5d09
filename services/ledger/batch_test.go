package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/events"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ledger"
)

// A backlog is recorded in batches: every verified attestation once, with a dense log,
// each announced; an envelope that does not verify, in the middle of a batch, is
// dead-lettered alone and its event still enters the history.
func TestBatchesRecordEachEventOnItsOwnMerits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 30
	bad := digestOf("batch bad")
	var badID string
	for i := range n {
		d := digestOf(fmt.Sprint("batch ", i))
		f.publish(t, ctx, events.Event{Type: events.TypeBuildCompleted, Subject: d, Data: buildEvent(d)})
		signed, _ := f.signedAttestation(t, f.trusted, d, d)
		f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: d, Data: signed})
		if i == n/2 {
			forged, _ := f.signedAttestation(t, f.untrusted, bad, bad)
			badID = f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: bad, Data: forged}).ID
		}
	}
	f.svc = f.start(t, ledger.WithBatchSize(16), ledger.WithConcurrency(2))
	f.lastDeadLetterFor(t, badID)
	f.waitIdle(t)

	if got := f.count(t, f.subject(t, events.TypeAttestationRecorded)); got != n {
		t.Errorf("%d attestations announced, want %d", got, n)
	}
	seen := map[int64]bool{}
	for i := range n {
		doc := f.snapshot(t, digestOf(fmt.Sprint("batch ", i)))
		if len(doc.Attestations) != 1 || doc.Build == nil {
			t.Fatalf("artifact %d: %d attestations, build %v", i, len(doc.Attestations), doc.Build)
		}
		idx := doc.Attestations[0].LogIndex
		if idx < 0 || idx >= n || seen[idx] {
			t.Errorf("artifact %d has log index %d (taken or out of range)", i, idx)
		}
		seen[idx] = true
	}
	if size, err := f.store.LogSize(ctx); err != nil || size != n {
		t.Errorf("log size = %d, %v; want %d", size, err, n)
	}
	doc := f.snapshot(t, bad)
	if len(doc.Attestations) != 0 || len(doc.Timeline) != 2 || doc.Timeline[0].ID != badID || doc.Timeline[1].Type != events.TypeDeadLetter {
		t.Errorf("refused attestation: %d attestations, timeline %+v; want none, and its event then its dead letter", len(doc.Attestations), doc.Timeline)
	}
	// Each announcement names its own recorded attestation.
	rec := f.last(t, f.subject(t, events.TypeAttestationRecorded))
	var last eventsv1.AttestationRecorded
	if err := proto.Unmarshal(rec.Data, &last); err != nil || rec.Header.Get(events.HeaderSubject) != last.Digest {
		t.Errorf("announcement %v (ce-subject %s), %v", &last, rec.Header.Get(events.HeaderSubject), err)
	}
}

package ledger_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/events"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	svc "github.com/custody-dev/custody/services/ledger"
)

// scanned publishes a scan of digest whose SBOM is sbom (stored in the blob store unless
// nil, then only named by sbomDigest) and returns the event's id.
func (f *fixture) scanned(t *testing.T, digest string, status eventsv1.ScanStatus, sbom []byte, sbomDigest string) string {
	t.Helper()
	if sbom != nil {
		ref, err := f.blobs.Put(context.Background(), "application/vnd.cyclonedx+json", sbom)
		if err != nil {
			t.Fatal(err)
		}
		sbomDigest = ref.Digest
	}
	pub := f.publish(t, context.Background(), events.Event{Type: events.TypeScanCompleted, Subject: digest, Data: &eventsv1.ScanCompleted{
		Image: "reg.example/app@" + digest, Digest: digest, Status: status, Sbom: &eventsv1.BlobRef{Digest: sbomDigest},
		Scanner: "custody-scanner/test",
	}})
	return pub.ID
}

func TestScanIndexesItsSBOM(t *testing.T) {
	f := newFixture(t)
	doc, err := os.ReadFile("testdata/sbom/debian-app.cdx.json")
	if err != nil {
		t.Fatal(err)
	}
	complete, incomplete, failed := digestOf("complete"), digestOf("incomplete"), digestOf("failed")
	f.scanned(t, complete, eventsv1.ScanStatus_SCAN_STATUS_COMPLETE, doc, "")
	f.scanned(t, incomplete, eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE, doc, "")
	f.scanned(t, failed, eventsv1.ScanStatus_SCAN_STATUS_FAILED, doc, "")
	f.waitIdle(t)
	for _, d := range []string{complete, incomplete} {
		inv, err := f.store.PackagesFor(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.SBOMs) != 1 || inv.SBOMs[0].Packages != 8 || inv.SBOMs[0].Skipped != 3 || inv.SBOMs[0].Problem != "" || len(inv.Packages) != 8 {
			t.Errorf("inventory of %s = %+v, want the SBOM's 8 packages", d, inv.SBOMs)
		}
		found := false
		for _, p := range inv.Packages {
			if p.Name == "libssl3" && p.Ecosystem == "Debian:12" && p.OSVName == "openssl" && p.OSVVersion == "3.0.11-1~deb12u1" {
				found = true
			}
		}
		if !found {
			t.Errorf("inventory of %s has no libssl3 keyed as Debian:12 openssl: %+v", d, inv.Packages)
		}
	}
	inv, err := f.store.PackagesFor(context.Background(), failed)
	if err != nil || len(inv.SBOMs) != 0 {
		t.Errorf("a failed scan's SBOM was indexed: %+v, %v", inv, err)
	}
	// Redelivery of the whole stream changes nothing.
	if n := f.count(t, f.env.Config.DeadLetterSubject(svc.ConsumerName)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// An SBOM that cannot be read leaves the scan recorded and the inventory recorded as
// unknown, with the reason; the event is not dead-lettered.
func TestUnreadableSBOMIsARecordedWarning(t *testing.T) {
	f := newFixture(t)
	d := digestOf("spdx")
	id := f.scanned(t, d, eventsv1.ScanStatus_SCAN_STATUS_COMPLETE, []byte(`{"spdxVersion":"SPDX-2.3","packages":[]}`), "")
	f.waitIdle(t)
	doc := f.snapshot(t, d)
	if len(doc.Scans) != 1 || doc.Scans[0].EventID != id {
		t.Fatalf("scans = %+v, want the scan recorded", doc.Scans)
	}
	inv, err := f.store.PackagesFor(context.Background(), d)
	if err != nil || len(inv.SBOMs) != 1 || !strings.Contains(inv.SBOMs[0].Problem, "bomFormat") || len(inv.Packages) != 0 {
		t.Errorf("inventory = %+v, %v; want one SBOM with its problem and no packages", inv, err)
	}
	if n := f.count(t, f.env.Config.DeadLetterSubject(svc.ConsumerName)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// An SBOM the blob store does not (yet) hold is worth retrying: the event is redelivered
// until it is dead-lettered, and the scan stays recorded meanwhile.
func TestMissingSBOMIsRetried(t *testing.T) {
	f := newFixture(t)
	d := digestOf("sbom missing")
	id := f.scanned(t, d, eventsv1.ScanStatus_SCAN_STATUS_COMPLETE, nil, digestOf("not stored"))
	dl := f.lastDeadLetterFor(t, id)
	if reason := dl.Header.Get(events.HeaderDLQReason); !strings.Contains(reason, "fetch SBOM") {
		t.Errorf("dead-letter reason %q does not say the SBOM could not be fetched", reason)
	}
	if n, _ := strconv.Atoi(dl.Header.Get(events.HeaderDLQAttempts)); n < 2 {
		t.Errorf("dead-lettered after %d attempts, want retries", n)
	}
	f.waitIdle(t)
	if doc := f.snapshot(t, d); len(doc.Scans) != 1 {
		t.Errorf("scans = %+v, want the scan recorded", doc.Scans)
	}
	inv, err := f.store.PackagesFor(context.Background(), d)
	if err != nil || len(inv.SBOMs) != 0 {
		t.Errorf("inventory = %+v, %v; want none", inv, err)
	}
}

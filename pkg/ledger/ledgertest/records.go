package ledgertest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/ledger"
)

func testRecordEvent(t *testing.T, s ledger.Store) {
	d := Digest("record event")
	ev := event("ev-1", "custody.build.completed", d, at(1), 7)
	first, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: ev})
	if err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}
	if !first.Inserted {
		t.Error("first RecordEvent: Inserted = false, want true")
	}
	// Redelivery: same content, another delivery time and stream position.
	again := ev
	again.Time, again.StreamSequence = at(5), 99
	second, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: again})
	if err != nil {
		t.Fatalf("second RecordEvent: %v", err)
	}
	if second.Inserted {
		t.Error("second RecordEvent of the same event: Inserted = true, want false")
	}
	for name, mutate := range map[string]func(*ledger.Event){
		"payload": func(e *ledger.Event) { e.Payload = []byte("other") },
		"type":    func(e *ledger.Event) { e.Type = "custody.scan.completed" },
		"subject": func(e *ledger.Event) { e.Subject = Digest("other") },
	} {
		t.Run("conflicting "+name, func(t *testing.T) {
			other := ev
			mutate(&other)
			_, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: other})
			wantErr(t, "RecordEvent with the id of a different event", err, ledger.ErrConflict)
		})
	}
	p, err := s.Provenance(ctx(t), d)
	if err != nil {
		t.Fatalf("Provenance: %v", err)
	}
	if diff := cmp.Diff([]ledger.Event{ev}, p.Timeline, ignoreStoreSet); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if len(p.Timeline) == 1 && p.Timeline[0].RecordedAt.IsZero() {
		t.Error("RecordedAt not set")
	}
	// An event that names no artifact is recorded but belongs to no timeline.
	noSubject := event("ev-nosubject", "custody.promotion.requested", "", at(1), 8)
	noSubject.TraceID, noSubject.Payload = "", nil
	if r, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: noSubject}); err != nil || !r.Inserted {
		t.Errorf("RecordEvent without subject or payload = %+v, %v; want inserted", r, err)
	}
	if r, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: noSubject}); err != nil || r.Inserted {
		t.Errorf("RecordEvent without payload again = %+v, %v; want not inserted", r, err)
	}
}

func testRecordEventInvalid(t *testing.T, s ledger.Store) {
	good := event("ev-bad", "custody.build.completed", Digest("x"), at(1), 1)
	for name, mutate := range map[string]func(*ledger.Event){
		"empty id":         func(e *ledger.Event) { e.ID = "" },
		"empty type":       func(e *ledger.Event) { e.Type = "" },
		"bad subject":      func(e *ledger.Event) { e.Subject = "sha256:ABC" },
		"uppercase digest": func(e *ledger.Event) { e.Subject = strings.ToUpper(Digest("x")) },
		"sha512 subject":   func(e *ledger.Event) { e.Subject = "sha512:" + strings.Repeat("a", 128) },
		"no time":          func(e *ledger.Event) { e.Time = time.Time{} },
		"ancient time":     func(e *ledger.Event) { e.Time = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year 3000":        func(e *ledger.Event) { e.Time = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"bad trace id":     func(e *ledger.Event) { e.TraceID = "not-a-trace" },
		"huge payload":     func(e *ledger.Event) { e.Payload = make([]byte, ledger.MaxPayload+1) },
		"invalid utf-8":    func(e *ledger.Event) { e.Source = "\xff\xfe" },
		"nul byte":         func(e *ledger.Event) { e.Source = "a\x00b" },
		"huge source":      func(e *ledger.Event) { e.Source = strings.Repeat("s", ledger.MaxText+1) },
		"huge dlq reason": func(e *ledger.Event) {
			e.DeadLetter = &ledger.DeadLetter{Consumer: "x", Reason: strings.Repeat("r", ledger.MaxLongText+1)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := good
			mutate(&e)
			_, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: e})
			wantErr(t, "RecordEvent", err, ledger.ErrInvalid)
		})
	}
	if _, err := s.Provenance(ctx(t), Digest("x")); err == nil {
		t.Error("an invalid event was recorded")
	}
}

func testRecordDeadLetter(t *testing.T, s ledger.Store) {
	d := Digest("dead letter")
	dl := event("dlq-T-ledger-12", "custody.dlq", d, at(3), 13)
	dl.NATSSubject = "t1.dlq.ledger"
	dl.DeadLetter = &ledger.DeadLetter{
		Consumer: "ledger", Reason: "verify: no trusted signature", OriginalID: "ev-att",
		OriginalSubject: "t1.attestation.signed", OriginalSequence: 12, Attempts: 1,
	}
	if r, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: dl}); err != nil || !r.Inserted {
		t.Fatalf("RecordEvent(dead letter) = %+v, %v", r, err)
	}
	p, err := s.Provenance(ctx(t), d)
	if err != nil {
		t.Fatalf("Provenance: %v", err)
	}
	if diff := cmp.Diff([]ledger.Event{dl}, p.Timeline, ignoreStoreSet); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
}

func testTimeline(t *testing.T, s ledger.Store) {
	d := Digest("timeline")
	// Recorded out of order; the timeline orders by time, then stream sequence.
	evs := []ledger.Event{
		// Ids sort against the sequence, so ordering by id would show.
		event("ev-d", "custody.scan.completed", d, at(2), 5),
		event("ev-b", "custody.build.completed", d, at(1), 9),
		event("ev-c", "custody.attestation.signed", d, at(2), 6),
		event("ev-a", "custody.build.completed", d, at(1), 10),
		// Later in time, earlier in the stream (a redelivered retry).
		event("ev-0", "custody.promotion.requested", d, at(3), 2),
		event("ev-other", "custody.build.completed", Digest("someone else"), at(0), 1),
	}
	for _, e := range evs {
		if _, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Provenance(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.Timeline {
		got = append(got, e.ID)
	}
	if diff := cmp.Diff([]string{"ev-b", "ev-a", "ev-d", "ev-c", "ev-0"}, got); diff != "" {
		t.Errorf("timeline order (-want +got):\n%s", diff)
	}
}

func testPutBuild(t *testing.T, s ledger.Store) {
	d := Digest("build")
	b := build(d, "ev-build-1")
	if r, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: b}); err != nil || !r.Inserted {
		t.Fatalf("PutBuild = %+v, %v; want inserted", r, err)
	}
	if r, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: b}); err != nil || r.Inserted {
		t.Fatalf("PutBuild again = %+v, %v; want not inserted", r, err)
	}
	// A second build of the same digest (a rebuild) is kept, but provenance shows the first.
	rebuild := build(d, "ev-build-2")
	rebuild.BuilderID = "urn:custody:builder:other"
	if r, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: rebuild}); err != nil || !r.Inserted {
		t.Fatalf("PutBuild(rebuild) = %+v, %v; want inserted", r, err)
	}
	// Optional fields may be empty.
	minimal := ledger.Build{Digest: Digest("minimal build"), EventID: "ev-min"}
	if r, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: minimal}); err != nil || !r.Inserted {
		t.Fatalf("PutBuild(minimal) = %+v, %v; want inserted", r, err)
	}
	p, err := s.Provenance(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&b, p.Build); diff != "" {
		t.Errorf("provenance build (-want +got):\n%s", diff)
	}
	p, err = s.Provenance(ctx(t), minimal.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&minimal, p.Build); diff != "" {
		t.Errorf("minimal build (-want +got):\n%s", diff)
	}
}

func testPutBuildInvalid(t *testing.T, s ledger.Store) {
	for name, mutate := range map[string]func(*ledger.Build){
		"bad digest":   func(b *ledger.Build) { b.Digest = "sha256:1234" },
		"no digest":    func(b *ledger.Build) { b.Digest = "" },
		"no event id":  func(b *ledger.Build) { b.EventID = "" },
		"huge image":   func(b *ledger.Build) { b.Image = strings.Repeat("i", ledger.MaxText+1) },
		"bad utf-8":    func(b *ledger.Build) { b.Commit = "\xc3\x28" },
		"ancient time": func(b *ledger.Build) { b.StartedAt = b.StartedAt.AddDate(-500, 0, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			b := build(Digest("bad build"), "ev-bad-build")
			mutate(&b)
			_, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: b})
			wantErr(t, "PutBuild", err, ledger.ErrInvalid)
		})
	}
	if _, err := s.Provenance(ctx(t), Digest("bad build")); err == nil {
		t.Error("an invalid build was recorded")
	}
}

func testPutAttestation(t *testing.T, s ledger.Store) {
	d := Digest("attested")
	a := attestation(d, "1")
	r, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: a})
	if err != nil || !r.Inserted {
		t.Fatalf("PutAttestation = %+v, %v; want inserted", r, err)
	}
	want := a
	want.KeyIDs = []string{"key-a", "key-b"} // sorted
	if diff := cmp.Diff(want, r.Attestation, ignoreStoreSet); diff != "" {
		t.Errorf("stored attestation (-want +got):\n%s", diff)
	}
	if r.Attestation.RecordedAt.IsZero() {
		t.Error("RecordedAt not set")
	}
	// The same envelope again, even claiming other keys: not inserted, first record kept.
	again := a
	again.KeyIDs = []string{"key-z"}
	r2, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: again})
	if err != nil || r2.Inserted {
		t.Fatalf("PutAttestation again = %+v, %v; want not inserted", r2, err)
	}
	if diff := cmp.Diff(r.Attestation, r2.Attestation); diff != "" {
		t.Errorf("second put returned (-first +second):\n%s", diff)
	}
	// One envelope whose statement names two subjects is recorded for each.
	other := a
	other.SubjectDigest = Digest("second subject")
	if r, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: other}); err != nil || !r.Inserted {
		t.Errorf("PutAttestation for a second subject = %+v, %v; want inserted", r, err)
	}
	got, err := s.AttestationsFor(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Attestation{r.Attestation}, got); diff != "" {
		t.Errorf("AttestationsFor (-want +got):\n%s", diff)
	}
	// An explicit RecordedAt and log index are kept.
	withTime := attestation(d, "2")
	withTime.RecordedAt, withTime.LogIndex = at(9), 17
	r3, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: withTime})
	if err != nil {
		t.Fatal(err)
	}
	if !r3.Attestation.RecordedAt.Equal(at(9)) || r3.Attestation.LogIndex != 17 {
		t.Errorf("attestation recorded at %v, log index %d; want %v, 17", r3.Attestation.RecordedAt, r3.Attestation.LogIndex, at(9))
	}
}

func testPutAttestationInvalid(t *testing.T, s ledger.Store) {
	d := Digest("bad attestation")
	for name, mutate := range map[string]func(*ledger.Attestation){
		"bad envelope digest": func(a *ledger.Attestation) { a.EnvelopeDigest = "md5:abc" },
		"bad subject":         func(a *ledger.Attestation) { a.SubjectDigest = "latest" },
		"bad blob digest":     func(a *ledger.Attestation) { a.Envelope.Digest = "sha256:zz" },
		"no key ids":          func(a *ledger.Attestation) { a.KeyIDs = nil },
		"empty key id":        func(a *ledger.Attestation) { a.KeyIDs = []string{""} },
		"no predicate type":   func(a *ledger.Attestation) { a.PredicateType = "" },
		"log index -2":        func(a *ledger.Attestation) { a.LogIndex = -2 },
		"negative size":       func(a *ledger.Attestation) { a.Envelope.Size = -1 },
		"too many key ids":    func(a *ledger.Attestation) { a.KeyIDs = make([]string, ledger.MaxListItems+1) },
	} {
		t.Run(name, func(t *testing.T) {
			a := attestation(d, "bad")
			mutate(&a)
			_, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: a})
			wantErr(t, "PutAttestation", err, ledger.ErrInvalid)
		})
	}
	got, err := s.AttestationsFor(ctx(t), d)
	if err != nil || len(got) != 0 {
		t.Errorf("AttestationsFor after invalid puts = %v, %v; want none", got, err)
	}
}

func testAttestationsFor(t *testing.T, s ledger.Store) {
	d := Digest("listed")
	got, err := s.AttestationsFor(ctx(t), d)
	if err != nil {
		t.Fatalf("AttestationsFor(unknown) error = %v, want nil", err)
	}
	if got == nil || len(got) != 0 {
		t.Errorf("AttestationsFor(unknown) = %#v, want an empty non-nil list", got)
	}
	var want []string
	for i, seed := range []string{"x", "y", "z"} {
		a := attestation(d, seed)
		a.RecordedAt = at(10 - i) // recorded out of order: oldest first is z, y, x
		if _, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: a}); err != nil {
			t.Fatal(err)
		}
		want = append([]string{a.EnvelopeDigest}, want...)
	}
	if _, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: attestation(Digest("unrelated"), "u")}); err != nil {
		t.Fatal(err)
	}
	got, err = s.AttestationsFor(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	var gotDigests []string
	for _, a := range got {
		gotDigests = append(gotDigests, a.EnvelopeDigest)
	}
	if diff := cmp.Diff(want, gotDigests); diff != "" {
		t.Errorf("AttestationsFor order (-want +got):\n%s", diff)
	}
	_, err = s.AttestationsFor(ctx(t), "sha256:nothex")
	wantErr(t, "AttestationsFor(malformed)", err, ledger.ErrInvalid)
}

func testPutScan(t *testing.T, s ledger.Store) {
	d := Digest("scanned")
	first := scan(d, "ev-scan-2", at(20))
	failed := scan(d, "ev-scan-1", at(10))
	failed.Status, failed.SBOMDigest, failed.PackageCount, failed.Detail = ledger.ScanFailed, "", 0, "layer 3: unexpected EOF"
	for _, sc := range []ledger.Scan{first, failed} {
		if r, err := s.PutScan(ctx(t), ledger.PutScanRequest{Scan: sc}); err != nil || !r.Inserted {
			t.Fatalf("PutScan(%s) = %+v, %v; want inserted", sc.EventID, r, err)
		}
	}
	if r, err := s.PutScan(ctx(t), ledger.PutScanRequest{Scan: first}); err != nil || r.Inserted {
		t.Fatalf("PutScan again = %+v, %v; want not inserted", r, err)
	}
	p, err := s.Provenance(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Scan{failed, first}, p.Scans); diff != "" {
		t.Errorf("scans, by scan time (-want +got):\n%s", diff)
	}
}

func testPutScanInvalid(t *testing.T, s ledger.Store) {
	for name, mutate := range map[string]func(*ledger.Scan){
		"bad digest":       func(sc *ledger.Scan) { sc.Digest = "sha256:" },
		"bad sbom digest":  func(sc *ledger.Scan) { sc.SBOMDigest = "sbom.json" },
		"unknown status":   func(sc *ledger.Scan) { sc.Status = "clean" },
		"empty status":     func(sc *ledger.Scan) { sc.Status = "" },
		"negative count":   func(sc *ledger.Scan) { sc.PackageCount = -1 },
		"no event id":      func(sc *ledger.Scan) { sc.EventID = "" },
		"huge detail":      func(sc *ledger.Scan) { sc.Detail = strings.Repeat("d", ledger.MaxLongText+1) },
		"nul in scanner":   func(sc *ledger.Scan) { sc.Scanner = "\x00" },
		"far future start": func(sc *ledger.Scan) { sc.ScannedAt = sc.ScannedAt.AddDate(300, 0, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			sc := scan(Digest("bad scan"), "ev-bad-scan", at(1))
			mutate(&sc)
			_, err := s.PutScan(ctx(t), ledger.PutScanRequest{Scan: sc})
			wantErr(t, "PutScan", err, ledger.ErrInvalid)
		})
	}
}

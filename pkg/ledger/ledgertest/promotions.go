package ledgertest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/ledger"
)

func testPutDecision(t *testing.T, s ledger.Store) {
	d := Digest("decided")
	denied := decision(d, "req-1", "ev-dec-1", ledger.Denied, at(5))
	allowed := decision(d, "req-2", "ev-dec-2", ledger.Allowed, at(3))
	allowed.Reasons, allowed.AttestationDigests, allowed.PolicyDigest = nil, nil, ""
	for _, dec := range []ledger.Decision{denied, allowed} {
		if r, err := s.PutDecision(ctx(t), ledger.PutDecisionRequest{Decision: dec}); err != nil || !r.Inserted {
			t.Fatalf("PutDecision(%s) = %+v, %v; want inserted", dec.EventID, r, err)
		}
	}
	if r, err := s.PutDecision(ctx(t), ledger.PutDecisionRequest{Decision: denied}); err != nil || r.Inserted {
		t.Fatalf("PutDecision again = %+v, %v; want not inserted", r, err)
	}
	p, err := s.Provenance(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Decision{allowed, denied}, p.Decisions, ignoreStoreSet); diff != "" {
		t.Errorf("decisions, by decision time (-want +got):\n%s", diff)
	}
	for _, dec := range p.Decisions {
		if dec.Reasons == nil || dec.AttestationDigests == nil {
			t.Errorf("decision %s: empty lists come back nil; want empty slices (they serialise as [])", dec.EventID)
		}
	}
}

func testPutDecisionInvalid(t *testing.T, s ledger.Store) {
	for name, mutate := range map[string]func(*ledger.Decision){
		"no request id":          func(d *ledger.Decision) { d.RequestID = "" },
		"bad digest":             func(d *ledger.Decision) { d.Digest = "sha256:xyz" },
		"unspecified verdict":    func(d *ledger.Decision) { d.Verdict = "" },
		"unknown verdict":        func(d *ledger.Decision) { d.Verdict = "maybe" },
		"bad attestation digest": func(d *ledger.Decision) { d.AttestationDigests = []string{"sha256:1"} },
		"bad policy digest":      func(d *ledger.Decision) { d.PolicyDigest = "policy.yaml" },
		"no time":                func(d *ledger.Decision) { d.DecidedAt = time.Time{} },
		"no event id":            func(d *ledger.Decision) { d.EventID = "" },
		"too many reasons":       func(d *ledger.Decision) { d.Reasons = make([]string, ledger.MaxListItems+1) },
		"huge reason":            func(d *ledger.Decision) { d.Reasons = []string{strings.Repeat("r", ledger.MaxText+1)} },
	} {
		t.Run(name, func(t *testing.T) {
			d := decision(Digest("bad decision"), "req-bad", "ev-bad", ledger.Allowed, at(1))
			mutate(&d)
			_, err := s.PutDecision(ctx(t), ledger.PutDecisionRequest{Decision: d})
			wantErr(t, "PutDecision", err, ledger.ErrInvalid)
		})
	}
	if _, err := s.Provenance(ctx(t), Digest("bad decision")); err == nil {
		t.Error("an invalid decision was recorded")
	}
}

func testUpdatePromotion(t *testing.T, s ledger.Store) {
	d := Digest("promoted")
	steps := []struct {
		name         string
		upd          ledger.Promotion
		wantInserted bool
		wantChanged  bool
		want         ledger.Promotion
	}{
		{
			name: "requested",
			upd: ledger.Promotion{RequestID: "req-1", Digest: d, SourceImage: "staging.example/app@" + d,
				Destination: "prod.example/app:1", RequestedBy: "alice", Status: ledger.PromotionRequested, RequestedAt: at(1)},
			wantInserted: true, wantChanged: true,
		},
		{
			name: "requested again",
			upd: ledger.Promotion{RequestID: "req-1", Digest: d, SourceImage: "staging.example/app@" + d,
				Destination: "prod.example/app:1", RequestedBy: "alice", Status: ledger.PromotionRequested, RequestedAt: at(1)},
		},
		{
			name:        "allowed",
			upd:         ledger.Promotion{RequestID: "req-1", Digest: d, Status: ledger.PromotionAllowed, DecidedAt: at(2)},
			wantChanged: true,
		},
		{
			name: "completed",
			upd: ledger.Promotion{RequestID: "req-1", Digest: d, Status: ledger.PromotionCompleted,
				DestinationImage: "prod.example/app@" + d, FinishedAt: at(3)},
			wantChanged: true,
		},
		{
			name: "failed after completed is ignored",
			upd: ledger.Promotion{RequestID: "req-1", Digest: d, Status: ledger.PromotionFailed,
				Error: "", FinishedAt: at(4)},
		},
	}
	want := ledger.Promotion{
		RequestID: "req-1", Digest: d, SourceImage: "staging.example/app@" + d, Destination: "prod.example/app:1",
		RequestedBy: "alice", RequestedAt: at(1),
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: st.upd})
			if err != nil {
				t.Fatalf("UpdatePromotion: %v", err)
			}
			if r.Inserted != st.wantInserted || r.Changed != st.wantChanged {
				t.Errorf("inserted, changed = %v, %v; want %v, %v", r.Inserted, r.Changed, st.wantInserted, st.wantChanged)
			}
			switch st.upd.Status {
			case ledger.PromotionRequested:
				want.Status = ledger.PromotionRequested
			case ledger.PromotionAllowed:
				want.Status, want.DecidedAt = ledger.PromotionAllowed, at(2)
			case ledger.PromotionCompleted:
				want.Status, want.DestinationImage, want.FinishedAt = ledger.PromotionCompleted, "prod.example/app@"+d, at(3)
			}
			if diff := cmp.Diff(want, r.Promotion, ignoreStoreSet); diff != "" {
				t.Errorf("promotion (-want +got):\n%s", diff)
			}
			if r.Promotion.UpdatedAt.IsZero() {
				t.Error("UpdatedAt not set")
			}
			st2, err := s.PromotionStatus(ctx(t), "req-1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r.Promotion, st2.Promotion); diff != "" {
				t.Errorf("PromotionStatus differs from the update's answer (-update +status):\n%s", diff)
			}
		})
	}
}

// testUpdatePromotionOutOfOrder applies the events of one promotion in the worst order:
// the outcome must be the same as in order.
func testUpdatePromotionOutOfOrder(t *testing.T, s ledger.Store) {
	d := Digest("out of order")
	updates := []ledger.Promotion{
		{RequestID: "req-ooo", Digest: d, Destination: "prod.example/app", Status: ledger.PromotionFailed,
			Error: "copy: registry unavailable", FinishedAt: at(3)},
		{RequestID: "req-ooo", Digest: d, Destination: "prod.example/app", Status: ledger.PromotionAllowed, DecidedAt: at(2)},
		{RequestID: "req-ooo", Digest: d, SourceImage: "staging.example/app@" + d, Destination: "prod.example/app",
			RequestedBy: "bob", Status: ledger.PromotionRequested, RequestedAt: at(1)},
	}
	for i, u := range updates {
		r, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: u})
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if r.Promotion.Status != ledger.PromotionFailed {
			t.Errorf("after update %d (%s) status = %s, want failed", i, u.Status, r.Promotion.Status)
		}
	}
	want := ledger.Promotion{
		RequestID: "req-ooo", Digest: d, SourceImage: "staging.example/app@" + d, Destination: "prod.example/app",
		RequestedBy: "bob", Status: ledger.PromotionFailed, Error: "copy: registry unavailable",
		RequestedAt: at(1), DecidedAt: at(2), FinishedAt: at(3),
	}
	st, err := s.PromotionStatus(ctx(t), "req-ooo")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, st.Promotion, ignoreStoreSet); diff != "" {
		t.Errorf("promotion (-want +got):\n%s", diff)
	}
	// Of two outcomes of the same rank, the first recorded stays.
	r, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
		RequestID: "req-ooo", Status: ledger.PromotionCompleted, DestinationImage: "prod.example/app@" + d,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Promotion.Status != ledger.PromotionFailed {
		t.Errorf("completed after failed: status = %s, want failed kept", r.Promotion.Status)
	}
}

func testUpdatePromotionInvalid(t *testing.T, s ledger.Store) {
	for name, p := range map[string]ledger.Promotion{
		"no request id":  {Status: ledger.PromotionRequested, Digest: Digest("p")},
		"no status":      {RequestID: "req-x", Digest: Digest("p")},
		"unknown status": {RequestID: "req-x", Digest: Digest("p"), Status: "approved"},
		"bad digest":     {RequestID: "req-x", Digest: "sha256:0", Status: ledger.PromotionRequested},
		"huge error":     {RequestID: "req-x", Status: ledger.PromotionFailed, Error: strings.Repeat("e", ledger.MaxLongText+1)},
		"huge id":        {RequestID: strings.Repeat("i", 513), Status: ledger.PromotionRequested},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: p})
			wantErr(t, "UpdatePromotion", err, ledger.ErrInvalid)
		})
	}
	_, err := s.PromotionStatus(ctx(t), "req-x")
	wantErr(t, "PromotionStatus after invalid updates", err, ledger.ErrNotFound)
}

func testPromotionStatus(t *testing.T, s ledger.Store) {
	d := Digest("status")
	_, err := s.PromotionStatus(ctx(t), "req-unknown")
	wantErr(t, "PromotionStatus(unknown)", err, ledger.ErrNotFound)
	_, err = s.PromotionStatus(ctx(t), "")
	wantErr(t, "PromotionStatus(empty)", err, ledger.ErrInvalid)

	if _, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
		RequestID: "req-s", Digest: d, Destination: "prod.example/app", Status: ledger.PromotionRequested, RequestedAt: at(1),
	}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.PromotionStatus(ctx(t), "req-s")
	if err != nil {
		t.Fatal(err)
	}
	if st.Decision != nil || st.Promotion.Status != ledger.PromotionRequested {
		t.Errorf("before a decision: %+v, want requested without decision", st)
	}
	first := decision(d, "req-s", "ev-s-1", ledger.Denied, at(2))
	later := decision(d, "req-s", "ev-s-2", ledger.Allowed, at(3))
	for _, dec := range []ledger.Decision{first, later} {
		if _, err := s.PutDecision(ctx(t), ledger.PutDecisionRequest{Decision: dec}); err != nil {
			t.Fatal(err)
		}
	}
	st, err = s.PromotionStatus(ctx(t), "req-s")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&first, st.Decision); diff != "" {
		t.Errorf("decision: want the first recorded (-want +got):\n%s", diff)
	}
}

func testProvenance(t *testing.T, s ledger.Store) {
	d := Digest("full provenance")
	b := build(d, "ev-b")
	a := attestation(d, "p")
	sc := scan(d, "ev-s", at(3))
	dec := decision(d, "req-p", "ev-d", ledger.Allowed, at(4))
	evs := []ledger.Event{
		event("ev-b", "custody.build.completed", d, at(2), 1),
		event("ev-s", "custody.scan.completed", d, at(3), 2),
		event("ev-d", "custody.promotion.decided", d, at(4), 3),
	}
	prom := ledger.Promotion{RequestID: "req-p", Digest: d, SourceImage: "staging.example/app@" + d,
		Destination: "prod.example/app:1", Status: ledger.PromotionAllowed, RequestedAt: at(3), DecidedAt: at(4)}
	if _, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: b}); err != nil {
		t.Fatal(err)
	}
	ar, err := s.PutAttestation(ctx(t), ledger.PutAttestationRequest{Attestation: a})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutScan(ctx(t), ledger.PutScanRequest{Scan: sc}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutDecision(ctx(t), ledger.PutDecisionRequest{Decision: dec}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: prom}); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if _, err := s.RecordEvent(ctx(t), ledger.RecordEventRequest{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	// Another artifact's records must not leak in.
	if _, err := s.PutBuild(ctx(t), ledger.PutBuildRequest{Build: build(Digest("other"), "ev-other")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Provenance(ctx(t), d)
	if err != nil {
		t.Fatalf("Provenance: %v", err)
	}
	want := &ledger.Provenance{
		Digest: d, Build: &b, Attestations: []ledger.Attestation{ar.Attestation}, Scans: []ledger.Scan{sc},
		Decisions: []ledger.Decision{dec}, Promotions: []ledger.Promotion{prom}, Timeline: evs,
	}
	if diff := cmp.Diff(want, got, ignoreStoreSet); diff != "" {
		t.Errorf("Provenance (-want +got):\n%s", diff)
	}
	if img := got.Image(); img != b.Image {
		t.Errorf("Image() = %q, want the build's %q", img, b.Image)
	}
	// Each kind of record alone is enough for the artifact to be known.
	only := Digest("only a promotion")
	if _, err := s.UpdatePromotion(ctx(t), ledger.UpdatePromotionRequest{Promotion: ledger.Promotion{
		RequestID: "req-only", Digest: only, SourceImage: "staging.example/only@" + only, Status: ledger.PromotionRequested,
	}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Provenance(ctx(t), only)
	if err != nil {
		t.Fatalf("Provenance of an artifact known only from a promotion: %v", err)
	}
	if p.Build != nil || len(p.Promotions) != 1 || p.Image() != "staging.example/only@"+only {
		t.Errorf("Provenance = %+v, want one promotion, no build, image from the promotion", p)
	}
	if p.Attestations == nil || p.Scans == nil || p.Decisions == nil || p.Timeline == nil {
		t.Error("empty parts of provenance come back nil; want empty slices (they serialise as [])")
	}
}

func testProvenanceNotFound(t *testing.T, s ledger.Store) {
	_, err := s.Provenance(ctx(t), Digest("never seen"))
	wantErr(t, "Provenance(unknown)", err, ledger.ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), Digest("never seen")) {
		t.Errorf("not-found error %q does not name the digest", err)
	}
	for _, bad := range []string{"", "sha256:abc", "latest", "sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("a", 65)} {
		_, err := s.Provenance(ctx(t), bad)
		wantErr(t, "Provenance("+bad+")", err, ledger.ErrInvalid)
	}
}

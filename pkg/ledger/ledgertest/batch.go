package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/custody-dev/custody/pkg/ledger"
)

// testWriteBatch records three items in one batch, the middle one failing after it
// wrote: the others commit, the failed item leaves nothing behind (not its event, not
// its log entry), and the log stays dense in item order.
func testWriteBatch(t *testing.T, s ledger.Store) {
	c := ctx(t)
	d := []string{Digest("batch 0"), Digest("batch 1"), Digest("batch 2")}
	indexes := make([]int64, 3)
	resp, err := s.WriteBatch(c, ledger.WriteBatchRequest{Items: 3, Write: func(ctx context.Context, i int, w ledger.Writer) error {
		if _, err := w.RecordEvent(ctx, ledger.RecordEventRequest{Event: event(fmt.Sprint("ev-batch-", i), "custody.attestation.signed", d[i], at(i), uint64(i+1))}); err != nil {
			return err
		}
		a := attestation(d[i], fmt.Sprint("batch ", i))
		lr, err := w.AppendLog(ctx, ledger.AppendLogRequest{Kind: "attestation", Key: a.EnvelopeDigest, Entry: fmt.Appendf(nil, `{"n":%d}`, i)})
		if err != nil {
			return err
		}
		indexes[i] = lr.Index
		if i == 1 {
			// Written, then refused: the whole item must roll back.
			_, err := w.PutBuild(ctx, ledger.PutBuildRequest{Build: ledger.Build{Digest: "not a digest", EventID: "x"}})
			return err
		}
		a.LogIndex = lr.Index
		_, err = w.PutAttestation(ctx, ledger.PutAttestationRequest{Attestation: a})
		return err
	}})
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	if len(resp.Errors) != 3 || resp.Errors[0] != nil || resp.Errors[2] != nil {
		t.Fatalf("WriteBatch errors = %v, want [nil, ErrInvalid, nil]", resp.Errors)
	}
	wantErr(t, "the failing item", resp.Errors[1], ledger.ErrInvalid)
	if indexes[0] != 0 || indexes[2] != 1 {
		t.Errorf("log indexes of the committed items = %d, %d; want 0, 1 (the failed item's index reused)", indexes[0], indexes[2])
	}
	if n, err := s.LogSize(c); err != nil || n != 2 {
		t.Errorf("LogSize = %d, %v; want 2", n, err)
	}
	for i, digest := range d {
		p, err := s.Provenance(c, digest)
		if i == 1 {
			if !errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("Provenance of the failed item = %+v, %v; want ErrNotFound (its writes rolled back)", p, err)
			}
			continue
		}
		if err != nil || len(p.Attestations) != 1 || len(p.Timeline) != 1 || p.Attestations[0].LogIndex != indexes[i] {
			t.Errorf("Provenance of item %d = %+v, %v; want its attestation (log index %d) and event", i, p, err, indexes[i])
		}
	}
	// The same batch again changes nothing and reports the same indexes.
	again, err := s.WriteBatch(c, ledger.WriteBatchRequest{Items: 1, Write: func(ctx context.Context, _ int, w ledger.Writer) error {
		r, err := w.RecordEvent(ctx, ledger.RecordEventRequest{Event: event("ev-batch-0", "custody.attestation.signed", d[0], at(0), 1)})
		if err == nil && r.Inserted {
			err = errors.New("the same event was inserted twice")
		}
		return err
	}})
	if err != nil || again.Errors[0] != nil {
		t.Errorf("repeated batch = %v, %v", again.Errors, err)
	}
}

func testWriteBatchRejectsInvalid(t *testing.T, s ledger.Store) {
	noop := func(context.Context, int, ledger.Writer) error { return nil }
	for name, req := range map[string]ledger.WriteBatchRequest{
		"too many items": {Items: ledger.MaxBatch + 1, Write: noop},
		"negative":       {Items: -1, Write: noop},
		"no function":    {Items: 1},
	} {
		_, err := s.WriteBatch(ctx(t), req)
		wantErr(t, "WriteBatch "+name, err, ledger.ErrInvalid)
	}
	if resp, err := s.WriteBatch(ctx(t), ledger.WriteBatchRequest{Write: noop}); err != nil || len(resp.Errors) != 0 {
		t.Errorf("empty batch = %v, %v", resp, err)
	}
}

// testConcurrentBatches runs batches of log appends beside single appends: indexes
// stay dense and every entry is reported by exactly one writer.
func testConcurrentBatches(t *testing.T, s ledger.Store) {
	const writers, perBatch = 6, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]int{}
	errs := make(chan error, 2*writers)
	for g := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			got := make([]int64, perBatch)
			resp, err := s.WriteBatch(ctx(t), ledger.WriteBatchRequest{Items: perBatch, Write: func(ctx context.Context, i int, w ledger.Writer) error {
				r, err := w.AppendLog(ctx, logReq("attestation", g*100+i))
				got[i] = r.Index
				return err
			}})
			if err == nil {
				err = errors.Join(resp.Errors...)
			}
			errs <- err
			mu.Lock()
			defer mu.Unlock()
			for _, idx := range got {
				seen[idx]++
			}
		}()
		go func() {
			defer wg.Done()
			r, err := s.AppendLog(ctx(t), logReq("decision", g))
			errs <- err
			mu.Lock()
			defer mu.Unlock()
			seen[r.Index]++
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent writes: %v", err)
		}
	}
	want := int64(writers*perBatch + writers)
	if n, err := s.LogSize(ctx(t)); err != nil || n != want {
		t.Fatalf("LogSize = %d, %v; want %d", n, err, want)
	}
	for i := range want {
		if seen[i] != 1 {
			t.Errorf("index %d reported %d times, want once", i, seen[i])
		}
	}
}

// testWriteBatchPackages writes package inventories inside a batch: they commit with
// the batch, an item that fails after writing its inventory leaves none behind, and the
// same inventory again in a later batch inserts nothing.
func testWriteBatchPackages(t *testing.T, s ledger.Store) {
	c := ctx(t)
	d := []string{Digest("batch inventory 0"), Digest("batch inventory 1"), Digest("batch inventory 2")}
	sbom := Digest("batch sbom")
	req := func(i int) ledger.PutPackagesRequest {
		return ledger.PutPackagesRequest{Digest: d[i], SBOMDigest: sbom, Packages: []ledger.Package{
			debPackage("libssl3", "3.0.11-1~deb12u2", "12", "openssl"), pypiPackage("requests", fmt.Sprint("2.31.", i)),
		}}
	}
	inserted := make([]ledger.PutPackagesResponse, 3)
	resp, err := s.WriteBatch(c, ledger.WriteBatchRequest{Items: 3, Write: func(ctx context.Context, i int, w ledger.Writer) error {
		var err error
		if inserted[i], err = w.PutPackages(ctx, req(i)); err != nil {
			return err
		}
		if i == 1 {
			_, err := w.PutBuild(ctx, ledger.PutBuildRequest{Build: ledger.Build{Digest: "not a digest", EventID: "x"}})
			return err
		}
		return nil
	}})
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	if resp.Errors[0] != nil || resp.Errors[2] != nil {
		t.Fatalf("WriteBatch errors = %v, want [nil, ErrInvalid, nil]", resp.Errors)
	}
	wantErr(t, "the failing item", resp.Errors[1], ledger.ErrInvalid)
	for i, want := range []int{2, 0, 2} {
		if i != 1 && inserted[i] != (ledger.PutPackagesResponse{Inserted: 2, InventoryInserted: true}) {
			t.Errorf("PutPackages in the batch, item %d = %+v; want 2 inserted and a new inventory", i, inserted[i])
		}
		inv, err := s.PackagesFor(c, d[i])
		if err != nil || len(inv.Packages) != want || len(inv.SBOMs) != want/2 {
			t.Errorf("PackagesFor(item %d) = %+v, %v; want %d packages (the failed item's rolled back)", i, inv, err, want)
		}
	}
	again, err := s.WriteBatch(c, ledger.WriteBatchRequest{Items: 1, Write: func(ctx context.Context, _ int, w ledger.Writer) error {
		r, err := w.PutPackages(ctx, req(0))
		if err == nil && r != (ledger.PutPackagesResponse{}) {
			err = fmt.Errorf("the same inventory again inserted %+v", r)
		}
		return err
	}})
	if err != nil || again.Errors[0] != nil {
		t.Errorf("repeated inventory in a batch = %v, %v", again.Errors, err)
	}
}

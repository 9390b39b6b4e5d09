package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
)

// heldStore is a real SQLite store whose WriteBatch calls are counted and can be held
// back, so that a test can make batches arrive while a transaction is open.
type heldStore struct {
	ledger.Store
	mu    sync.Mutex
	sizes []int
	hold  chan struct{} // the first WriteBatch waits on it; nil waits for nothing
	fail  error         // every WriteBatch after the first fails with it
}

func (h *heldStore) WriteBatch(ctx context.Context, req ledger.WriteBatchRequest) (ledger.WriteBatchResponse, error) {
	h.mu.Lock()
	h.sizes = append(h.sizes, req.Items)
	first, hold, fail := len(h.sizes) == 1, h.hold, h.fail
	h.mu.Unlock()
	if first && hold != nil {
		<-hold
	}
	if !first && fail != nil {
		return ledger.WriteBatchResponse{}, fail
	}
	return h.Store.WriteBatch(ctx, req)
}

func (h *heldStore) calls() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

func openHeld(t *testing.T) *heldStore {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &heldStore{Store: s, hold: make(chan struct{})}
}

// commitItems returns n items that record an event each about digest; the item at
// index bad (if any) fails its write.
func commitItems(batch string, n, bad int) []*item {
	items := make([]*item, n)
	for i := range n {
		items[i] = &item{ev: ledger.Event{
			ID: fmt.Sprintf("%s-%d", batch, i), Type: "custody.test", Source: "test",
			Subject: commitDigest, Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
		}}
		if i == bad {
			items[i].record = func(context.Context, ledger.Writer) error { return errors.New("this item cannot be written") }
		}
	}
	return items
}

const commitDigest = "sha256:0000000000000000000000000000000000000000000000000000000000c0ffee"

// startCommits writes each batch from a goroutine of its own, once a transaction is
// open and held, waits until all of them are queued behind it, and returns their
// outcomes once the transaction is released.
func startCommits(t *testing.T, c *committer, h *heldStore, first []*item, batches [][]*item) (leader []error, others [][]error, errs []error) {
	t.Helper()
	ctx := context.Background()
	type outcome struct {
		errs []error
		err  error
	}
	lead := make(chan outcome, 1)
	go func() {
		e, err := c.write(ctx, first)
		lead <- outcome{e, err}
	}()
	waitFor(t, "the first transaction to open", func() bool { return len(h.calls()) == 1 })
	outs := make([]chan outcome, len(batches))
	for i, b := range batches {
		outs[i] = make(chan outcome, 1)
		go func() {
			e, err := c.write(ctx, b)
			outs[i] <- outcome{e, err}
		}()
	}
	waitFor(t, "every batch to queue", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == len(batches)
	})
	close(h.hold)
	l := <-lead
	if l.err != nil {
		t.Fatalf("first batch: %v", l.err)
	}
	others, errs = make([][]error, len(batches)), make([]error, len(batches))
	for i, o := range outs {
		r := <-o
		others[i], errs[i] = r.errs, r.err
	}
	return l.errs, others, errs
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Batches that become ready while a transaction is open are written together in the
// next one, and each learns its own items' outcomes: a failing item fails alone.
func TestBatchesReadyTogetherShareOneTransaction(t *testing.T) {
	h := openHeld(t)
	c := &committer{store: h}
	batches := [][]*item{commitItems("b", 2, -1), commitItems("c", 3, 1), commitItems("d", 1, -1)}
	leader, others, errs := startCommits(t, c, h, commitItems("a", 1, -1), batches)

	if got := h.calls(); len(got) != 2 || got[0] != 1 || got[1] != 6 {
		t.Errorf("transactions of %v items; want [1 6]: the three waiting batches in one", got)
	}
	if len(leader) != 1 || leader[0] != nil {
		t.Errorf("first batch outcomes %v", leader)
	}
	for i, b := range batches {
		if errs[i] != nil {
			t.Fatalf("batch %d: %v", i, errs[i])
		}
		if len(others[i]) != len(b) {
			t.Fatalf("batch %d: %d outcomes for %d items", i, len(others[i]), len(b))
		}
		for j, err := range others[i] {
			if wantFail := i == 1 && j == 1; (err != nil) != wantFail {
				t.Errorf("batch %d item %d: outcome %v, want failure %v", i, j, err, wantFail)
			}
		}
	}
	p, err := h.Provenance(context.Background(), commitDigest)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Timeline) != 6 {
		t.Errorf("%d events recorded, want 6 (all but the failed item)", len(p.Timeline))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy || len(c.pending) != 0 {
		t.Errorf("after the writes the committer is busy %v with %d batches pending", c.busy, len(c.pending))
	}
}

// A transaction that fails fails every batch in it (they are all redelivered), and
// the next batch still gets written.
func TestFailedGroupFailsEachBatch(t *testing.T) {
	h := openHeld(t)
	h.fail = errors.New("database is locked")
	c := &committer{store: h}
	_, _, errs := startCommits(t, c, h, commitItems("a", 1, -1), [][]*item{commitItems("b", 1, -1), commitItems("c", 2, -1)})
	for i, err := range errs {
		if !errors.Is(err, h.fail) {
			t.Errorf("batch %d: error %v, want the transaction's", i, err)
		}
	}
	h.mu.Lock()
	h.fail = nil
	h.mu.Unlock()
	e, err := c.write(context.Background(), commitItems("d", 1, -1))
	if err != nil || len(e) != 1 || e[0] != nil {
		t.Errorf("a later batch: %v, %v", e, err)
	}
}

// A group never exceeds ledger.MaxBatch items: what does not fit leads the next one.
func TestGroupsStayWithinMaxBatch(t *testing.T) {
	h := openHeld(t)
	c := &committer{store: h}
	half := ledger.MaxBatch/2 + 1
	batches := [][]*item{commitItems("b", half, -1), commitItems("c", half, -1), commitItems("d", 1, -1)}
	_, _, errs := startCommits(t, c, h, commitItems("a", 1, -1), batches)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	// The batches queue in any order; whichever pair fits goes together.
	if got := h.calls(); len(got) != 3 || min(got[1], got[2]) != half || max(got[1], got[2]) != half+1 {
		t.Errorf("transactions of %v items; want 1, then %d and %d in either order", got, half, half+1)
	}
}

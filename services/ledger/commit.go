package ledger

import (
	"context"
	"fmt"
	"sync"

	"github.com/custody-dev/custody/pkg/ledger"
)

// committer merges the writes of batches handled at the same time into one database
// transaction (group commit). The consumer's workers prepare their batches
// concurrently (fetching and verifying envelopes), but a database takes one writer at
// a time: SQLite has a single write lock, and every batch appends to the log, whose
// next index is one more lock. Workers that each committed on their own queued on those
// locks, and, because a worker takes whatever events are waiting when it is free, most
// of their transactions held a single event. Instead, the first worker ready to write
// becomes the leader: it writes every batch waiting at that moment (up to
// ledger.MaxBatch events) in one transaction, hands the outcome to each, and passes
// the lead to the next batch that arrived meanwhile, so while one transaction commits
// the next group forms.
type committer struct {
	store ledger.Store

	mu      sync.Mutex
	pending []*commitReq
	busy    bool // a leader is writing, or has been woken to write
}

// commitReq is one batch waiting to be written.
type commitReq struct {
	items []*item
	// wake receives true when this batch is to lead the next group, false when a
	// leader has written it (errs and err are then set).
	wake chan bool
	errs []error
	err  error
}

// write writes items in a transaction, possibly shared with other batches, and
// returns each item's outcome or an error for the whole transaction (nothing of items
// was then written). ctx bounds the transaction when this call leads it.
func (c *committer) write(ctx context.Context, items []*item) ([]error, error) {
	r := &commitReq{items: items, wake: make(chan bool, 1)}
	c.mu.Lock()
	c.pending = append(c.pending, r)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if !lead && !<-r.wake {
		return r.errs, r.err
	}
	// r is first in line: it was alone when it came, or a leader woke it.
	c.mu.Lock()
	group, n := c.pending[:1], len(c.pending[0].items)
	for _, next := range c.pending[1:] {
		if n+len(next.items) > ledger.MaxBatch {
			break
		}
		group, n = c.pending[:len(group)+1], n+len(next.items)
	}
	c.pending = c.pending[len(group):]
	c.mu.Unlock()

	c.run(ctx, group, n)

	c.mu.Lock()
	if len(c.pending) > 0 {
		c.pending[0].wake <- true
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	for _, o := range group[1:] {
		o.wake <- false
	}
	return r.errs, r.err
}

// run writes group's items, n in all, in one transaction and sets each batch's
// outcome.
func (c *committer) run(ctx context.Context, group []*commitReq, n int) {
	all := make([]*item, 0, n)
	for _, g := range group {
		all = append(all, g.items...)
	}
	resp, err := c.store.WriteBatch(ctx, ledger.WriteBatchRequest{Items: len(all), Write: func(ctx context.Context, i int, w ledger.Writer) error {
		return all[i].write(ctx, w)
	}})
	if err == nil && len(resp.Errors) != n {
		err = fmt.Errorf("ledger: the store reported %d outcomes for a batch of %d", len(resp.Errors), n)
	}
	off := 0
	for _, g := range group {
		if err != nil {
			g.err = err
		} else {
			g.errs = resp.Errors[off : off+len(g.items)]
		}
		off += len(g.items)
	}
}

package ledgertest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/tlog"
)

func logReq(kind string, i int) ledger.AppendLogRequest {
	return ledger.AppendLogRequest{Kind: kind, Key: fmt.Sprintf("key-%d", i), Entry: fmt.Appendf(nil, `{"kind":%q,"n":%d}`, kind, i)}
}

// testAppendLog checks dense indexes, idempotency on (kind, key), conflicts and ranges.
func testAppendLog(t *testing.T, s ledger.Store) {
	c := ctx(t)
	if n, err := s.LogSize(c); err != nil || n != 0 {
		t.Fatalf("LogSize of an empty log = %d, %v; want 0", n, err)
	}
	var want []ledger.LogEntry
	for i := range 5 {
		kind := "attestation"
		if i%2 == 1 {
			kind = "decision"
		}
		req := logReq(kind, i/2)
		resp, err := s.AppendLog(c, req)
		if err != nil {
			t.Fatalf("AppendLog %d: %v", i, err)
		}
		if resp != (ledger.AppendLogResponse{Index: int64(i), Inserted: true}) {
			t.Errorf("AppendLog %d = %+v, want index %d inserted", i, resp, i)
		}
		want = append(want, ledger.LogEntry{Index: int64(i), Kind: req.Kind, Key: req.Key, Entry: req.Entry, LeafHash: tlog.LeafHash(req.Entry)})
	}
	// The same entry again keeps its index.
	again, err := s.AppendLog(c, logReq("decision", 0))
	if err != nil || again != (ledger.AppendLogResponse{Index: 1}) {
		t.Errorf("AppendLog again = %+v, %v; want index 1, not inserted", again, err)
	}
	conflict := logReq("decision", 0)
	conflict.Entry = []byte(`{"different":true}`)
	_, err = s.AppendLog(c, conflict)
	wantErr(t, "AppendLog with different content", err, ledger.ErrConflict)
	if n, err := s.LogSize(c); err != nil || n != 5 {
		t.Errorf("LogSize = %d, %v; want 5", n, err)
	}

	got, err := s.LogEntries(c, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.Options{cmpopts.IgnoreFields(ledger.LogEntry{}, "CreatedAt")}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("LogEntries(0, 100) (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.CreatedAt.IsZero() {
			t.Errorf("entry %d has no CreatedAt", e.Index)
		}
	}
	mid, err := s.LogEntries(c, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:3], mid, opts); diff != "" {
		t.Errorf("LogEntries(1, 3) (-want +got):\n%s", diff)
	}
	if past, err := s.LogEntries(c, 7, 9); err != nil || len(past) != 0 {
		t.Errorf("LogEntries past the end = %v, %v; want none", past, err)
	}
	hashes, err := s.LogLeafHashes(c, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 4 || !bytes.Equal(hashes[3], want[3].LeafHash) {
		t.Errorf("LogLeafHashes(4) = %x, want the first 4 leaf hashes", hashes)
	}
	_, err = s.LogLeafHashes(c, 6)
	wantErr(t, "LogLeafHashes beyond the size", err, ledger.ErrInvalid)
}

func testAppendLogInvalid(t *testing.T, s ledger.Store) {
	c := ctx(t)
	for name, req := range map[string]ledger.AppendLogRequest{
		"no kind":     {Key: "k", Entry: []byte("e")},
		"upper kind":  {Kind: "Attestation", Key: "k", Entry: []byte("e")},
		"no key":      {Kind: "attestation", Entry: []byte("e")},
		"no entry":    {Kind: "attestation", Key: "k"},
		"huge entry":  {Kind: "attestation", Key: "k", Entry: make([]byte, ledger.MaxLogEntry+1)},
		"nul in key":  {Kind: "attestation", Key: "k\x00", Entry: []byte("e")},
		"long key":    {Kind: "attestation", Key: string(make([]byte, 513)), Entry: []byte("e")},
		"bad utf8key": {Kind: "attestation", Key: "\xff", Entry: []byte("e")},
	} {
		_, err := s.AppendLog(c, req)
		wantErr(t, "AppendLog "+name, err, ledger.ErrInvalid)
	}
	for _, r := range [][2]int64{{-1, 2}, {3, 2}, {0, ledger.MaxLogPage + 1}} {
		_, err := s.LogEntries(c, r[0], r[1])
		wantErr(t, fmt.Sprintf("LogEntries(%d, %d)", r[0], r[1]), err, ledger.ErrInvalid)
	}
	if n, err := s.LogSize(c); err != nil || n != 0 {
		t.Errorf("LogSize after invalid appends = %d, %v; want 0", n, err)
	}
}

// testConcurrentAppendLog checks that concurrent appends leave no gaps and that of
// concurrent appends of one key exactly one inserts.
func testConcurrentAppendLog(t *testing.T, s ledger.Store) {
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	indexes := map[int64]string{}
	inserted := 0
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctx(t)
			own, err := s.AppendLog(c, logReq("attestation", i))
			errs <- err
			shared, err := s.AppendLog(c, logReq("decision", 0))
			errs <- err
			mu.Lock()
			defer mu.Unlock()
			if own.Inserted {
				indexes[own.Index] = fmt.Sprint("attestation ", i)
			}
			if shared.Inserted {
				inserted++
				indexes[shared.Index] = "decision"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent AppendLog: %v", err)
		}
	}
	if inserted != 1 {
		t.Errorf("%d concurrent appends of one key inserted, want 1", inserted)
	}
	size, err := s.LogSize(ctx(t))
	if err != nil || size != n+1 {
		t.Fatalf("LogSize = %d, %v; want %d", size, err, n+1)
	}
	entries, err := s.LogEntries(ctx(t), 0, size)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if e.Index != int64(i) {
			t.Fatalf("entry %d has index %d: the log has a gap", i, e.Index)
		}
		if _, ok := indexes[e.Index]; !ok {
			t.Errorf("index %d was not reported by any append", e.Index)
		}
	}
}

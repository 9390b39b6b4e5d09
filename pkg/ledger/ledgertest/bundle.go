package ledgertest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/tlog"
)

// testLogEntryByKey checks that an entry is found by the (kind, key) it was appended
// under, with its index, content and leaf hash, and that the kind is part of the key.
func testLogEntryByKey(t *testing.T, s ledger.Store) {
	c := ctx(t)
	for i := range 3 {
		if _, err := s.AppendLog(c, logReq("attestation", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendLog(c, logReq("decision", i)); err != nil {
			t.Fatal(err)
		}
	}
	req := logReq("decision", 1)
	got, err := s.LogEntryByKey(c, req.Kind, req.Key)
	if err != nil {
		t.Fatalf("LogEntryByKey: %v", err)
	}
	want := ledger.LogEntry{Index: 3, Kind: req.Kind, Key: req.Key, Entry: req.Entry, LeafHash: tlog.LeafHash(req.Entry)}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ledger.LogEntry{}, "CreatedAt")); diff != "" {
		t.Errorf("LogEntryByKey (-want +got):\n%s", diff)
	}
	if got.CreatedAt.IsZero() {
		t.Error("LogEntryByKey: entry has no CreatedAt")
	}
	_, err = s.LogEntryByKey(c, "promotion", req.Key)
	wantErr(t, "LogEntryByKey of another kind", err, ledger.ErrNotFound)
	_, err = s.LogEntryByKey(c, "decision", "key-99")
	wantErr(t, "LogEntryByKey of an unknown key", err, ledger.ErrNotFound)
	_, err = s.LogEntryByKey(c, "Decision!", req.Key)
	wantErr(t, "LogEntryByKey of an invalid kind", err, ledger.ErrInvalid)
	_, err = s.LogEntryByKey(c, "decision", "")
	wantErr(t, "LogEntryByKey of an empty key", err, ledger.ErrInvalid)
}

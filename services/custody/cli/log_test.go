package cli

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	moderncsqlite "modernc.org/sqlite"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/tlog"
	"github.com/custody-dev/custody/pkg/verify"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
)

// logFixture is a real ledger API over a SQLite file, with its log key in dir.
type logFixture struct {
	dir, db, url string
	store        *sqlite.Store
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	ctx := context.Background()
	f := &logFixture{dir: t.TempDir()}
	f.db = filepath.Join(f.dir, "ledger.db")
	env := eventstest.New(t)
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	if f.store, err = sqlite.Open(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.store.Close() })
	sig := signingtest.New(t)
	key, err := verify.ParseTrustedKeyPEM("k", sig.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := verify.NewVerifier([]verify.TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	logSigner, vkey, err := devLogKey(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ledgersvc.New(env.Bus(t), blobs, f.store, verifier, ledgersvc.WithLogSigner(logSigner, vkey))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *logFixture) append(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := f.store.AppendLog(context.Background(), ledger.AppendLogRequest{
			Kind: "decision", Key: fmt.Sprint("ev-", i), Entry: fmt.Appendf(nil, `{"kind":"decision","n":%d}`, i),
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// edit changes the database behind the ledger's back.
func (f *logFixture) edit(t *testing.T, query string, args ...any) {
	t.Helper()
	conn, err := moderncsqlite.NewConnector(f.db)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

func TestLogVerifyDetectsEdits(t *testing.T) {
	f := newLogFixture(t)
	f.append(t, 0, 5)
	keyFile := filepath.Join(f.dir, "log.pub")
	cp, stderr, code := run(t, "log", "checkpoint", "--server", f.url, "--key", keyFile)
	if code != ExitOK || !strings.HasPrefix(cp, devLogOrigin+"\n5\n") {
		t.Fatalf("log checkpoint = %d %q %s, want a checkpoint of size 5", code, cp, stderr)
	}
	cpFile := filepath.Join(f.dir, "cp")
	if err := os.WriteFile(cpFile, []byte(cp), 0o600); err != nil {
		t.Fatal(err)
	}
	f.append(t, 5, 8)

	out, stderr, code := run(t, "log", "verify", "--server", f.url, "--checkpoint", cpFile)
	if code != ExitOK || !strings.Contains(out, "8 entries") {
		t.Fatalf("verify of an untouched log = %d %q %s, want success over 8 entries", code, out, stderr)
	}

	// An edited entry is named.
	f.edit(t, `UPDATE log_entries SET entry = CAST('{"kind":"decision","n":99}' AS BLOB) WHERE idx = 3`)
	_, stderr, code = run(t, "log", "verify", "--server", f.url, "--checkpoint", cpFile, "--key", keyFile)
	if code != ExitDenied || !strings.Contains(stderr, "log entry 3 ") {
		t.Errorf("verify after editing entry 3 = %d %s, want exit 1 naming entry 3", code, stderr)
	}

	// An entry edited with its leaf hash no longer makes the saved root.
	f.edit(t, `UPDATE log_entries SET leaf_hash = ? WHERE idx = 3`, tlogLeaf(`{"kind":"decision","n":99}`))
	_, stderr, code = run(t, "log", "verify", "--server", f.url, "--checkpoint", cpFile, "--key", keyFile)
	if code != ExitDenied || !strings.Contains(stderr, "saved checkpoint's root") {
		t.Errorf("verify after rewriting entry 3 and its hash = %d %s, want exit 1 (root mismatch)", code, stderr)
	}

	// A checkpoint signed by another key is refused.
	_, _, code = run(t, "log", "verify", "--server", f.url, "--checkpoint", cpFile, "--key", writeOtherKey(t))
	if code == ExitOK {
		t.Error("verify with another log key succeeded, want failure")
	}
}

func tlogLeaf(entry string) []byte { return tlog.LeafHash([]byte(entry)) }

func writeOtherKey(t *testing.T) string {
	t.Helper()
	_, vkey, err := devLogKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(p, []byte(vkey), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

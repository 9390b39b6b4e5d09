package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	moderncsqlite "modernc.org/sqlite"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/ledgertest"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
)

func open(t *testing.T) ledger.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, open)
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	d := ledgertest.Digest("reopen")
	if _, err := s.PutBuild(ctx, ledger.PutBuildRequest{Build: ledger.Build{Digest: d, EventID: "ev-1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != 4 {
		t.Errorf("SchemaVersion = %d, %v; want 4", v, err)
	}
	p, err := s.Provenance(ctx, d)
	if err != nil || p.Build == nil || p.Build.EventID != "ev-1" {
		t.Errorf("after reopen: %+v, %v; want the build", p, err)
	}
	if r, err := s.PutBuild(ctx, ledger.PutBuildRequest{Build: ledger.Build{Digest: d, EventID: "ev-1"}}); err != nil || r.Inserted {
		t.Errorf("PutBuild after reopen = %+v, %v; want not inserted", r, err)
	}
}

func TestSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Look at the file with a separate connection: WAL mode is a property of the file.
	conn, err := moderncsqlite.NewConnector(path)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != 4 {
		t.Errorf("schema_migrations rows = %d, %v; want 4", n, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	conn, err := moderncsqlite.NewConnector(path)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_ns) VALUES (99, '0099_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	_, err = sqlite.Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open(newer schema) = %v, want an error saying the schema is newer", err)
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		path string
		opts []sqlite.Option
	}{
		"empty path":       {path: ""},
		"query in path":    {path: filepath.Join(t.TempDir(), "x.db?mode=ro")},
		"memory":           {path: ":memory:"},
		"bad busy timeout": {path: filepath.Join(t.TempDir(), "x.db"), opts: []sqlite.Option{sqlite.WithBusyTimeout(0)}},
		"bad pool size":    {path: filepath.Join(t.TempDir(), "x.db"), opts: []sqlite.Option{sqlite.WithMaxOpenConns(0)}},
		"nil clock":        {path: filepath.Join(t.TempDir(), "x.db"), opts: []sqlite.Option{sqlite.WithClock(nil)}},
		"missing dir":      {path: filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), tc.path, tc.opts...)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}

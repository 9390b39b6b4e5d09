package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger/postgres"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	"github.com/custody-dev/custody/services/ledger"
)

func TestOpenStoreChoosesByScheme(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := ledger.OpenStore(ctx, path)
	if err != nil {
		t.Fatalf("OpenStore(file): %v", err)
	}
	defer s.Close()
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("OpenStore(file) = %T, want *sqlite.Store", s)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("SQLite file not created: %v", err)
	}

	for _, ref := range []string{"", "mysql://u:secretpw@db/x", "file:///tmp/x.db"} {
		if s, err := ledger.OpenStore(ctx, ref); err == nil {
			_ = s.Close()
			t.Errorf("OpenStore(%q) succeeded, want an error", ref)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("OpenStore(%q) error %q contains the password", ref, err)
		}
	}
	// A postgres URL goes to PostgreSQL (nothing listens on port 1), not to a file
	// named after the URL.
	dir := t.TempDir()
	t.Chdir(dir)
	for _, ref := range []string{"postgres://u:secretpw@127.0.0.1:1/x?connect_timeout=2", "postgresql://u:secretpw@127.0.0.1:1/x?connect_timeout=2"} {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := ledger.OpenStore(c, ref)
		cancel()
		if err == nil {
			_ = s.Close()
			t.Fatalf("OpenStore(%s) succeeded with nothing listening", ref)
		}
		if strings.Contains(err.Error(), "secretpw") || !strings.Contains(err.Error(), "postgres") {
			t.Errorf("OpenStore(%s) error = %q, want a postgres error without the password", ref, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("OpenStore of URLs created files: %v", entries)
	}
}

// With CUSTODY_TEST_POSTGRES_DSN set, a postgres URL opens the PostgreSQL store.
func TestOpenStorePostgres(t *testing.T) {
	dsn := os.Getenv("CUSTODY_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("CUSTODY_TEST_POSTGRES_DSN is not set: set it to a PostgreSQL URL to run this test")
	}
	// A schema of its own, named in the URL's search_path, so that the test leaves
	// nothing behind.
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "custody_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close(ctx)
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s, err := ledger.OpenStore(t.Context(), dsn+sep+"search_path="+schema)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	defer s.Close()
	if _, ok := s.(*postgres.Store); !ok {
		t.Errorf("OpenStore(%s) = %T, want *postgres.Store", ledger.RedactStoreRef(dsn), s)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Error(err)
	}
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT COUNT(*) FROM "+schema+".schema_migrations").Scan(&n); err != nil || n != 4 {
		t.Errorf("schema_migrations in %s: %d rows, %v; want 4, one per migration (migrated into the URL's search_path)", schema, n, err)
	}
}

func TestRedactStoreRef(t *testing.T) {
	for ref, want := range map[string]string{
		"./custody.db": "./custody.db",
		"postgres://u:pw@db:5432/x?sslmode=disable": "postgres://u:xxxxx@db:5432/x?sslmode=disable",
		"postgres://u@db/x?password=pw":             "postgres://u@db/x?password=xxxxx",
		"postgresql://db/x":                         "postgresql://db/x",
	} {
		if got := ledger.RedactStoreRef(ref); got != want {
			t.Errorf("RedactStoreRef(%q) = %q, want %q", ref, got, want)
		}
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	moderncsqlite "modernc.org/sqlite"

	"github.com/custody-dev/custody/pkg/ledger"
)

// A database of schema 3 holding vulnerability records gains, when migrated to 4, the
// alias index of those records: every record's id and the aliases its JSON names. A
// record whose stored JSON cannot be read keeps its id and does not stop the migration.
func TestMigration4IndexesStoredAliases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	conn, err := moderncsqlite.NewConnector(path + "?_foreign_keys=1")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:3] {
		if err := applyMigration(ctx, db, m, time.Now); err != nil {
			t.Fatal(err)
		}
	}
	for id, raw := range map[string]string{
		"GHSA-1":   `{"id":"GHSA-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-1","PYSEC-1", 7, ""]}`,
		"DSA-1":    `{"id":"DSA-1","aliases":["CVE-2024-1"]}`,
		"BROKEN":   `{"id":"BROKEN","aliases":["CVE-2024-9"`,
		"NOALIAS":  `{"id":"NOALIAS"}`,
		"DEBIAN-1": `{"id":"DEBIAN-1","upstream":["CVE-2024-1"]}`,
		"SCALAR":   `{"id":"SCALAR","aliases":"CVE-2024-5"}`,
		"LATIN1":   "{\"aliases\":[\"\xe9\"]}",
	} {
		if _, err := db.Exec("INSERT INTO vuln_records (id, modified_ns, raw, updated_ns) VALUES (?, 1, ?, 1)", id, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("migrate to 4: %v", err)
	}
	defer s.Close()
	for q, want := range map[string][]string{
		"CVE-2024-1": {"DEBIAN-1", "DSA-1", "GHSA-1"},
		"PYSEC-1":    {"GHSA-1"},
		"BROKEN":     {"BROKEN"},
		"CVE-2024-9": {},
		"NOALIAS":    {"NOALIAS"},
		"SCALAR":     {"SCALAR"},
		"CVE-2024-5": {},
		"LATIN1":     {"LATIN1"},
	} {
		resp, err := s.VulnRecordsByID(ctx, ledger.VulnRecordsByIDRequest{IDs: []string{q}})
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, r := range resp.Records {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
}

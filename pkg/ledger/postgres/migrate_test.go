package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
)

// A database of schema 3 holding vulnerability records gains, when migrated to 4, the
// alias index of those records: every record's id and the aliases its JSON names. A
// record whose stored JSON cannot be read keeps its id and does not stop the migration.
func TestMigration4IndexesStoredAliases(t *testing.T) {
	dsn := os.Getenv("CUSTODY_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("CUSTODY_TEST_POSTGRES_DSN is not set: set it to a PostgreSQL URL to run the PostgreSQL store's tests")
	}
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "custody_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(cctx, dsn)
		if err == nil {
			_, _ = c.Exec(cctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = c.Close(cctx)
		}
	})
	for _, q := range []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"SET search_path TO " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:3] {
		if err := applyMigration(ctx, conn, m, time.Now); err != nil {
			t.Fatal(err)
		}
	}
	for id, raw := range map[string][]byte{
		"GHSA-1":   []byte(`{"id":"GHSA-1","aliases":["CVE-2024-1","PYSEC-1", 7, ""]}`),
		"DSA-1":    []byte(`{"id":"DSA-1","aliases":["CVE-2024-1"]}`),
		"BROKEN":   []byte(`{"id":"BROKEN","aliases":["CVE-2024-9"`),
		"LATIN1":   {'{', '"', 'a', 'l', 'i', 'a', 's', 'e', 's', '"', ':', '[', '"', 0xe9, '"', ']', '}'},
		"NOALIAS":  []byte(`{"id":"NOALIAS"}`),
		"DEBIAN-1": []byte(`{"id":"DEBIAN-1","upstream":["CVE-2024-1"]}`),
		"SCALAR":   []byte(`{"id":"SCALAR","aliases":"CVE-2024-5"}`),
	} {
		if _, err := conn.Exec(ctx, "INSERT INTO vuln_records (id, modified, raw, updated_at) VALUES ($1, now(), $2, now())", id, raw); err != nil {
			t.Fatal(err)
		}
	}

	s, err := Open(ctx, dsn, WithSchema(schema))
	if err != nil {
		t.Fatalf("migrate to 4: %v", err)
	}
	defer s.Close()
	for q, want := range map[string][]string{
		"CVE-2024-1": {"DEBIAN-1", "DSA-1", "GHSA-1"},
		"PYSEC-1":    {"GHSA-1"},
		"BROKEN":     {"BROKEN"},
		"CVE-2024-9": {},
		"LATIN1":     {"LATIN1"},
		"NOALIAS":    {"NOALIAS"},
		"CVE-2024-5": {},
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

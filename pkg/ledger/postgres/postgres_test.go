package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/ledgertest"
	"github.com/custody-dev/custody/pkg/ledger/postgres"
)

// dsnEnv names the server the tests run against. CI sets it; without it the tests that
// need a server skip (the SQLite suite covers machines without PostgreSQL).
const dsnEnv = "CUSTODY_TEST_POSTGRES_DSN"

func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skipf("%s is not set: set it to a PostgreSQL URL (postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL store's tests", dsnEnv)
	}
	return dsn
}

// freshSchema returns the name of a new schema (custody_test_<random>) that is dropped,
// with everything in it, when the test ends.
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "custody_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

func openIn(t *testing.T, dsn, schema string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, append([]postgres.Option{postgres.WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	ledgertest.Run(t, func(t *testing.T) ledger.Store {
		return openIn(t, dsn, freshSchema(t, dsn))
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	ctx := t.Context()
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	d := ledgertest.Digest("reopen")
	if _, err := s.PutBuild(ctx, ledger.PutBuildRequest{Build: ledger.Build{Digest: d, EventID: "ev-1"}}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = openIn(t, dsn, schema)
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != 4 {
		t.Errorf("SchemaVersion = %d, %v; want 4", v, err)
	}
	if n := countRows(t, dsn, schema, "schema_migrations"); n != 4 {
		t.Errorf("schema_migrations has %d rows after two opens, want 4", n)
	}
	p, err := s.Provenance(ctx, d)
	if err != nil || p.Build == nil || p.Build.EventID != "ev-1" {
		t.Errorf("after reopen: %+v, %v; want the build", p, err)
	}
	if r, err := s.PutBuild(ctx, ledger.PutBuildRequest{Build: ledger.Build{Digest: d, EventID: "ev-1"}}); err != nil || r.Inserted {
		t.Errorf("PutBuild after reopen = %+v, %v; want not inserted", r, err)
	}
}

// Several processes starting at once against a new schema: one migrates, the others
// wait for it and find the schema current.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema), postgres.WithMaxConns(2))
			if err == nil {
				_ = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	if got := countRows(t, dsn, schema, "schema_migrations"); got != 4 {
		t.Errorf("schema_migrations has %d rows, want 4", got)
	}
}

// Installations in different schemas of one database do not see each other's records.
func TestSchemasAreSeparate(t *testing.T) {
	dsn := testDSN(t)
	a, b := openIn(t, dsn, freshSchema(t, dsn)), openIn(t, dsn, freshSchema(t, dsn))
	d := ledgertest.Digest("separate")
	if _, err := a.PutBuild(t.Context(), ledger.PutBuildRequest{Build: ledger.Build{Digest: d, EventID: "ev-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Provenance(t.Context(), d); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Provenance in the other schema: error = %v, want ErrNotFound", err)
	}
	if r, err := b.PutBuild(t.Context(), ledger.PutBuildRequest{Build: ledger.Build{Digest: d, EventID: "ev-1"}}); err != nil || !r.Inserted {
		t.Errorf("PutBuild in the other schema = %+v, %v; want inserted", r, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	s := openIn(t, dsn, schema)
	_ = s.Close()
	exec(t, dsn, "INSERT INTO "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+
		" (version, name, applied_at) VALUES (99, '0099_future.sql', now())")
	s, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
	if err == nil {
		_ = s.Close()
	}
	if !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(err.Error(), "99") {
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew naming version 99", err)
	}
}

// Open creates the named schema and every table in it.
func TestOpenCreatesSchemaAndTables(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	openIn(t, dsn, schema)
	for _, table := range []string{"events", "builds", "attestations", "scans", "decisions", "promotions"} {
		if n := countRows(t, dsn, schema, table); n != 0 {
			t.Errorf("new %s table has %d rows", table, n)
		}
	}
}

// Open fails, without needing a server, on bad input; and the password never leaks
// into the error.
func TestOpenRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		dsn  string
		opts []postgres.Option
	}{
		"empty dsn":          {dsn: ""},
		"malformed url":      {dsn: "postgres://u:secretpw@127.0.0.1:notaport/db"},
		"unknown sslmode":    {dsn: "postgres://u:secretpw@127.0.0.1/db?sslmode=sometimes"},
		"nothing listening":  {dsn: "postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"},
		"bad schema":         {dsn: "postgres://127.0.0.1/db", opts: []postgres.Option{postgres.WithSchema("Robert'); DROP")}},
		"pg_ schema":         {dsn: "postgres://127.0.0.1/db", opts: []postgres.Option{postgres.WithSchema("pg_catalog")}},
		"empty schema":       {dsn: "postgres://127.0.0.1/db", opts: []postgres.Option{postgres.WithSchema("")}},
		"bad pool size":      {dsn: "postgres://127.0.0.1/db", opts: []postgres.Option{postgres.WithMaxConns(0)}},
		"nil clock":          {dsn: "postgres://127.0.0.1/db", opts: []postgres.Option{postgres.WithClock(nil)}},
		"keyword form, bad":  {dsn: "host=127.0.0.1 port=1 password=secretpw connect_timeout=2 sslmode=disable"},
		"unknown url scheme": {dsn: "mysql://u:secretpw@127.0.0.1/db"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			s, err := postgres.Open(ctx, tc.dsn, tc.opts...)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func countRows(t *testing.T, dsn, schema, table string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT COUNT(*) FROM "+pgx.Identifier{schema, table}.Sanitize()).Scan(&n); err != nil {
		t.Fatalf("count %s.%s: %v", schema, table, err)
	}
	return n
}

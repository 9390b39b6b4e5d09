package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
)

// The listings must be able to walk their indexes in page order. The tables here are
// empty, so the planner is told that sequential scans and sorts are expensive; what is
// checked is that a plan without them exists: the top of the plan is a Limit over an
// index scan of the expected index, with no Sort in between.
func TestQueryPlans(t *testing.T) {
	dsn := os.Getenv("CUSTODY_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("CUSTODY_TEST_POSTGRES_DSN is not set: set it to a PostgreSQL URL to run the PostgreSQL store's tests")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "custody_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	s, err := Open(ctx, dsn, WithSchema(schema), WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = s.pool.Exec(cctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		_ = s.Close()
	})
	if _, err := s.pool.Exec(ctx, "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off"); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("a", 64)
	osv := ledger.FindPackagesRequest{OSVName: "openssl", Ecosystems: []string{"Debian:11", "Debian:12"},
		Scope: ledger.RepositoryScope("reg.example/team"), Version: "3.0.11-1", PromotedOnly: true}
	osv.Cursor = osv.CursorAfter(ledger.ArtifactPackage{Digest: digest, Seq: 3})
	purl := ledger.FindPackagesRequest{PURLType: "deb", PURLNamespace: "debian", PURLName: "openssl", Scope: ledger.AllRepositories(),
		AfterDigest: digest}
	arts := ledger.ListArtifactsRequest{Scope: ledger.RepositoryScope("reg.example/team"), Status: ledger.StatusPromoted,
		Since: time.Unix(10, 0)}
	arts.Cursor = arts.CursorAfter(ledger.Position{Time: time.Unix(100, 0), Key: digest})
	bySource := ledger.ListArtifactsRequest{Scope: ledger.AllRepositories(), SourceRepository: "https://git.example/app"}
	for _, tc := range []struct {
		name  string
		build func() (string, []any)
		index string
	}{
		{"find by OSV name", func() (string, []any) { return findPackagesQuery(osv) }, "artifact_packages_by_osv_name"},
		{"find by package URL", func() (string, []any) { return findPackagesQuery(purl) }, "artifact_packages_by_purl"},
		{"list artifacts", func() (string, []any) { return listArtifactsQuery(arts) }, "builds_by_time"},
		{"list artifacts of a repository", func() (string, []any) { return listArtifactsQuery(bySource) }, "builds_by_source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args := tc.build()
			rows, err := s.pool.Query(ctx, "EXPLAIN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for rows.Next() {
				var l string
				if err := rows.Scan(&l); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, l)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			// The spine from the Limit down to the first index scan holds nothing but
			// nested loops (which keep the scan's order), and nothing reads a whole table.
			scan := -1
			for i, l := range lines {
				if strings.Contains(l, "Index Scan") || strings.Contains(l, "Index Only Scan") {
					scan = i
					break
				}
				l = strings.TrimLeft(l, " ->")
				if !strings.HasPrefix(l, "Limit") && !strings.HasPrefix(l, "Nested Loop") && !strings.HasPrefix(l, "Join Filter") {
					t.Errorf("plan has %q above its index scan:\n%s", l, plan)
				}
			}
			if scan < 0 || !strings.Contains(lines[scan], " using "+tc.index+" on ") {
				t.Errorf("the query is not driven by %s:\n%s", tc.index, plan)
			}
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("the plan reads a whole table:\n%s", plan)
			}
		})
	}
}

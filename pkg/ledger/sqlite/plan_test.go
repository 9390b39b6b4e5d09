package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

// The listings must walk their indexes in page order: a plan that sorts ("USE TEMP
// B-TREE FOR ORDER BY") or scans a table reads every row for every page.
func TestQueryPlans(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
		query string
		args  []any
		index string
	}{
		{"find by OSV name", "", nil, "artifact_packages_by_osv_name"},
		{"find by package URL", "", nil, "artifact_packages_by_purl"},
		{"list artifacts", "", nil, "builds_by_time"},
		{"list artifacts of a repository", "", nil, "builds_by_source"},
	} {
		switch tc.name {
		case "find by OSV name":
			tc.query, tc.args = findPackagesQuery(osv)
		case "find by package URL":
			tc.query, tc.args = findPackagesQuery(purl)
		case "list artifacts":
			tc.query, tc.args = listArtifactsQuery(arts)
		case "list artifacts of a repository":
			tc.query, tc.args = listArtifactsQuery(bySource)
		}
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.db.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var lines, top []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, detail)
				if parent == 0 {
					top = append(top, detail)
				}
			}
			plan := strings.Join(lines, "\n")
			// The outermost loop is the first line; subqueries follow, each with a parent.
			if !strings.HasPrefix(top[0], "SEARCH") || !strings.Contains(top[0], "INDEX "+tc.index+" (") {
				t.Errorf("the query does not search %s:\n%s", tc.index, plan)
			}
			for _, l := range top {
				if strings.Contains(l, "TEMP B-TREE") {
					t.Errorf("the query sorts (%s):\n%s", l, plan)
				}
			}
		})
	}
}

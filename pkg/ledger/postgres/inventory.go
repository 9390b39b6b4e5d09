package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/ledger"
)

// PutPackages records the inventory of one SBOM in one transaction, idempotently.
func (s *Store) PutPackages(ctx context.Context, req ledger.PutPackagesRequest) (ledger.PutPackagesResponse, error) {
	return writer{s: s}.PutPackages(ctx, req)
}

// PutPackages records the inventory of one SBOM, idempotently, in the writer's
// transaction (a savepoint of a batch's) or in one of its own: one INSERT ... ON
// CONFLICT DO NOTHING over every package (unnest of column arrays).
func (w writer) PutPackages(ctx context.Context, req ledger.PutPackagesRequest) (ledger.PutPackagesResponse, error) {
	var resp ledger.PutPackagesResponse
	if err := req.Validate(); err != nil {
		return resp, err
	}
	pkgs := uniquePackages(req.Packages)
	cols := make([][]string, 10)
	for i := range cols {
		cols[i] = make([]string, len(pkgs))
	}
	for i, p := range pkgs {
		for j, v := range []string{p.PURL, p.Type, p.Namespace, p.Name, p.Version, p.Ecosystem, p.OSVName, p.OSVVersion} {
			cols[j][i] = v
		}
	}
	now := micros(w.s.now())
	err := w.inTx(ctx, func(tx pgx.Tx) error {
		resp = ledger.PutPackagesResponse{}
		tag, err := tx.Exec(ctx, `INSERT INTO artifact_inventories (digest, sbom_digest, packages, skipped, problem, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest, sbom_digest) DO NOTHING`,
			req.Digest, req.SBOMDigest, int64(len(pkgs)), req.Skipped, req.Problem, now)
		if err != nil {
			return err
		}
		resp.InventoryInserted = tag.RowsAffected() == 1
		if len(pkgs) == 0 {
			return nil
		}
		tag, err = tx.Exec(ctx, `INSERT INTO artifact_packages (digest, sbom_digest, purl, purl_type, purl_namespace,
			purl_name, purl_version, ecosystem, osv_name, osv_version, recorded_at)
			SELECT $1::text, $2::text, u.purl, u.t, u.ns, u.n, u.v, u.eco, u.osv_name, u.osv_version, $11::timestamptz
			FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
				WITH ORDINALITY AS u (purl, t, ns, n, v, eco, osv_name, osv_version, ord)
			ORDER BY u.ord
			ON CONFLICT (digest, sbom_digest, purl) DO NOTHING`,
			req.Digest, req.SBOMDigest, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], now)
		if err != nil {
			return err
		}
		resp.Inserted = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return ledger.PutPackagesResponse{}, fmt.Errorf("postgres: put packages of %s: %w", req.Digest, err)
	}
	return resp, nil
}

// uniquePackages drops repeated package URLs, keeping the first.
func uniquePackages(pkgs []ledger.Package) []ledger.Package {
	seen := make(map[string]bool, len(pkgs))
	out := make([]ledger.Package, 0, len(pkgs))
	for _, p := range pkgs {
		if !seen[p.PURL] {
			seen[p.PURL] = true
			out = append(out, p)
		}
	}
	return out
}

const packageColumns = `SELECT p.id, p.digest, p.sbom_digest, p.purl, p.purl_type, p.purl_namespace, p.purl_name,
	p.purl_version, p.ecosystem, p.osv_name, p.osv_version, p.recorded_at FROM artifact_packages p`

func scanPackage(rs pgx.Rows) (ledger.ArtifactPackage, error) {
	var p ledger.ArtifactPackage
	err := rs.Scan(&p.Seq, &p.Digest, &p.SBOMDigest, &p.PURL, &p.Type, &p.Namespace, &p.Name, &p.Version,
		&p.Ecosystem, &p.OSVName, &p.OSVVersion, &p.RecordedAt)
	p.RecordedAt = p.RecordedAt.UTC()
	return p, err
}

// PackagesFor returns the inventories of an artifact and their packages.
func (s *Store) PackagesFor(ctx context.Context, digest string) (*ledger.Inventory, error) {
	if err := ledger.CheckDigest("artifact digest", digest); err != nil {
		return nil, err
	}
	var inv *ledger.Inventory
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		inv = &ledger.Inventory{Digest: digest, SBOMs: []ledger.SBOMInventory{}, Packages: []ledger.ArtifactPackage{}}
		if err := queryRows(ctx, tx, `SELECT sbom_digest, packages, skipped, problem, recorded_at FROM artifact_inventories
			WHERE digest = $1 ORDER BY recorded_at, sbom_digest`, []any{digest}, func(rs pgx.Rows) error {
			var si ledger.SBOMInventory
			var recorded time.Time
			if err := rs.Scan(&si.SBOMDigest, &si.Packages, &si.Skipped, &si.Problem, &recorded); err != nil {
				return err
			}
			si.RecordedAt = recorded.UTC()
			inv.SBOMs = append(inv.SBOMs, si)
			return nil
		}); err != nil {
			return err
		}
		return queryRows(ctx, tx, packageColumns+` WHERE p.digest = $1 ORDER BY p.purl, p.sbom_digest LIMIT $2`,
			[]any{digest, ledger.MaxPackagesFor + 1}, func(rs pgx.Rows) error {
				p, err := scanPackage(rs)
				inv.Packages = append(inv.Packages, p)
				return err
			})
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: packages of %s: %w", digest, err)
	}
	if len(inv.Packages) > ledger.MaxPackagesFor {
		return nil, fmt.Errorf("postgres: packages of %s: more than %d recorded, more than one answer holds", digest, ledger.MaxPackagesFor)
	}
	return inv, nil
}

// FindPackages pages through the packages a request names, in (digest, id) order.
//
// Query plan: a lookup by OSV name is one range scan of artifact_packages_by_osv_name
// (osv_name, digest, id), which yields rows already in (digest, id) order, starting at
// the cursor; ecosystem, version, promotion and scope are checked on the rows it reads,
// and LIMIT stops it after a page. A lookup by package URL is the same over
// artifact_packages_by_purl (purl_name, purl_type, digest, id). Neither sorts, and
// neither reads rows of other names. The indexes order digests in the "C" collation,
// the byte order the query and the cursor compare in.
func (s *Store) FindPackages(ctx context.Context, req ledger.FindPackagesRequest) (ledger.FindPackagesResponse, error) {
	resp := ledger.FindPackagesResponse{Packages: []ledger.ArtifactPackage{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	query, args := findPackagesQuery(req)
	limit := req.PageSize()
	if err := queryRows(ctx, s.pool, query, args, func(rs pgx.Rows) error {
		p, err := scanPackage(rs)
		resp.Packages = append(resp.Packages, p)
		return err
	}); err != nil {
		return ledger.FindPackagesResponse{Packages: []ledger.ArtifactPackage{}}, fmt.Errorf("postgres: find packages: %w", err)
	}
	if len(resp.Packages) > limit {
		resp.Packages = resp.Packages[:limit]
		resp.NextCursor = req.CursorAfter(resp.Packages[limit-1])
	}
	return resp, nil
}

// findPackagesQuery builds FindPackages' query for a valid request; it asks for one row
// more than a page, to know whether another page follows.
func findPackagesQuery(req ledger.FindPackagesRequest) (string, []any) {
	after, _ := req.After()
	var q builder
	if req.OSVName != "" {
		q.and("p.osv_name = " + q.arg(req.OSVName, "text"))
		e := q.arg(req.Ecosystems, "text[]")
		cond := "p.ecosystem = ANY(" + e + ")"
		if req.WithReleases {
			cond = "(" + cond + " OR EXISTS (SELECT 1 FROM unnest(" + e + `) AS er (value)
				WHERE left(p.ecosystem, length(er.value) + 1) = er.value || ':'))`
		}
		q.and(cond)
		if req.Version != "" {
			q.and("p.osv_version = " + q.arg(req.Version, "text"))
		}
	} else {
		q.and("p.purl_name = " + q.arg(req.PURLName, "text"))
		q.and("p.purl_type = " + q.arg(req.PURLType, "text"))
		q.and("p.purl_namespace = " + q.arg(req.PURLNamespace, "text"))
		if req.Version != "" {
			q.and("p.purl_version = " + q.arg(req.Version, "text"))
		}
	}
	if req.AfterDigest != "" {
		q.and(`p.digest COLLATE "C" > ` + q.arg(req.AfterDigest, "text"))
	}
	if after != nil {
		d, seq := q.arg(after.Key, "text"), q.arg(after.Seq, "bigint")
		q.and(fmt.Sprintf(`(p.digest COLLATE "C", p.id) > (%s, %s)`, d, seq))
	}
	if req.PromotedOnly {
		q.and(promotedSQL("p.digest"))
	}
	q.scope(req.Scope, imageSQL("p.digest"))
	return packageColumns + q.where() + ` ORDER BY p.digest COLLATE "C", p.id LIMIT ` + q.arg(req.PageSize()+1, "bigint"), q.args
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/custody-dev/custody/pkg/ledger"
)

// PutPackages records the inventory of one SBOM in one transaction, idempotently.
func (s *Store) PutPackages(ctx context.Context, req ledger.PutPackagesRequest) (ledger.PutPackagesResponse, error) {
	return writer{s: s}.PutPackages(ctx, req)
}

// PutPackages records the inventory of one SBOM, idempotently: in the writer's
// transaction (a batch's), else in one of its own.
func (w writer) PutPackages(ctx context.Context, req ledger.PutPackagesRequest) (ledger.PutPackagesResponse, error) {
	if err := req.Validate(); err != nil {
		return ledger.PutPackagesResponse{}, err
	}
	if w.tx == nil {
		var resp ledger.PutPackagesResponse
		err := w.s.inTx(ctx, func(tx writer) (err error) {
			resp, err = tx.PutPackages(ctx, req)
			return err
		})
		if err != nil {
			return ledger.PutPackagesResponse{}, err
		}
		return resp, nil
	}
	var resp ledger.PutPackagesResponse
	pkgs := uniquePackages(req.Packages)
	now := w.s.now().UnixNano()
	res, err := w.exec(ctx, sqlInsertInventory, req.Digest, req.SBOMDigest, len(pkgs), req.Skipped, req.Problem, now)
	if err != nil {
		return resp, fmt.Errorf("sqlite: put packages of %s: %w", req.Digest, err)
	}
	if resp.InventoryInserted, err = insertedOne(res); err != nil {
		return ledger.PutPackagesResponse{}, err
	}
	stmt := w.bound(ctx, sqlInsertPackage)
	for _, p := range pkgs {
		res, err := stmt.ExecContext(ctx, req.Digest, req.SBOMDigest, p.PURL, p.Type, p.Namespace, p.Name, p.Version,
			p.Ecosystem, p.OSVName, p.OSVVersion, now)
		if err != nil {
			return ledger.PutPackagesResponse{}, fmt.Errorf("sqlite: put package %s of %s: %w", p.PURL, req.Digest, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			resp.Inserted++
		}
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
	p.purl_version, p.ecosystem, p.osv_name, p.osv_version, p.recorded_ns FROM artifact_packages p`

func scanPackage(rs *sql.Rows) (ledger.ArtifactPackage, error) {
	var p ledger.ArtifactPackage
	var recorded int64
	err := rs.Scan(&p.Seq, &p.Digest, &p.SBOMDigest, &p.PURL, &p.Type, &p.Namespace, &p.Name, &p.Version,
		&p.Ecosystem, &p.OSVName, &p.OSVVersion, &recorded)
	p.RecordedAt = fromNS(recorded)
	return p, err
}

// PackagesFor returns the inventories of an artifact and their packages.
func (s *Store) PackagesFor(ctx context.Context, digest string) (*ledger.Inventory, error) {
	if err := ledger.CheckDigest("artifact digest", digest); err != nil {
		return nil, err
	}
	inv := &ledger.Inventory{Digest: digest, SBOMs: []ledger.SBOMInventory{}, Packages: []ledger.ArtifactPackage{}}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: packages of %s: %w", digest, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := queryRows(ctx, tx, `SELECT sbom_digest, packages, skipped, problem, recorded_ns FROM artifact_inventories
		WHERE digest = ?1 ORDER BY recorded_ns, sbom_digest`, []any{digest}, func(rs *sql.Rows) error {
		var si ledger.SBOMInventory
		var recorded int64
		if err := rs.Scan(&si.SBOMDigest, &si.Packages, &si.Skipped, &si.Problem, &recorded); err != nil {
			return err
		}
		si.RecordedAt = fromNS(recorded)
		inv.SBOMs = append(inv.SBOMs, si)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sqlite: packages of %s: %w", digest, err)
	}
	if err := queryRows(ctx, tx, packageColumns+` WHERE p.digest = ?1 ORDER BY p.purl, p.sbom_digest LIMIT ?2`,
		[]any{digest, ledger.MaxPackagesFor + 1}, func(rs *sql.Rows) error {
			p, err := scanPackage(rs)
			inv.Packages = append(inv.Packages, p)
			return err
		}); err != nil {
		return nil, fmt.Errorf("sqlite: packages of %s: %w", digest, err)
	}
	if len(inv.Packages) > ledger.MaxPackagesFor {
		return nil, fmt.Errorf("sqlite: packages of %s: more than %d recorded, more than one answer holds", digest, ledger.MaxPackagesFor)
	}
	return inv, nil
}

// FindPackages pages through the packages a request names, in (digest, id) order.
//
// Query plan: a lookup by OSV name is one range scan of artifact_packages_by_osv_name
// (osv_name, digest, and the rowid id implicitly), which yields rows already in
// (digest, id) order, starting at the cursor; ecosystem, version, promotion and scope are
// checked on the rows it reads, and LIMIT stops it after a page. A lookup by package URL
// is the same over artifact_packages_by_purl (purl_name, purl_type, digest, id). Neither
// sorts, and neither reads rows of other names.
func (s *Store) FindPackages(ctx context.Context, req ledger.FindPackagesRequest) (ledger.FindPackagesResponse, error) {
	resp := ledger.FindPackagesResponse{Packages: []ledger.ArtifactPackage{}}
	if err := req.Validate(); err != nil {
		return resp, err
	}
	query, args := findPackagesQuery(req)
	limit := req.PageSize()
	if err := queryRows(ctx, s.db, query, args, func(rs *sql.Rows) error {
		p, err := scanPackage(rs)
		resp.Packages = append(resp.Packages, p)
		return err
	}); err != nil {
		return ledger.FindPackagesResponse{Packages: []ledger.ArtifactPackage{}}, fmt.Errorf("sqlite: find packages: %w", err)
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
		q.and("p.osv_name = " + q.arg(req.OSVName))
		ecos, _ := encodeList(req.Ecosystems)
		e := q.arg(ecos)
		cond := "p.ecosystem IN (SELECT value FROM json_each(" + e + "))"
		if req.WithReleases {
			cond = "(" + cond + " OR EXISTS (SELECT 1 FROM json_each(" + e + `) er
				WHERE substr(p.ecosystem, 1, length(er.value) + 1) = er.value || ':'))`
		}
		q.and(cond)
		if req.Version != "" {
			q.and("p.osv_version = " + q.arg(req.Version))
		}
	} else {
		q.and("p.purl_name = " + q.arg(req.PURLName))
		q.and("p.purl_type = " + q.arg(req.PURLType))
		q.and("p.purl_namespace = " + q.arg(req.PURLNamespace))
		if req.Version != "" {
			q.and("p.purl_version = " + q.arg(req.Version))
		}
	}
	if req.AfterDigest != "" {
		q.and("p.digest > " + q.arg(req.AfterDigest))
	}
	if after != nil {
		d, seq := q.arg(after.Key), q.arg(after.Seq)
		q.and(fmt.Sprintf("p.digest >= %[1]s AND (p.digest > %[1]s OR p.id > %[2]s)", d, seq))
	}
	if req.PromotedOnly {
		q.and(promotedSQL("p.digest"))
	}
	q.scope(req.Scope, imageSQL("p.digest"))
	return packageColumns + q.where() + " ORDER BY p.digest, p.id LIMIT " + q.arg(req.PageSize()+1), q.args
}

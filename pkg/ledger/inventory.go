package ledger

import (
	"context"
	"fmt"
	"time"
)

// Bounds on package inventories.
const (
	// MaxInventoryPackages bounds the packages of one SBOM (one PutPackages call).
	MaxInventoryPackages = 100_000
	// MaxPackagesFor bounds what PackagesFor returns for one artifact.
	MaxPackagesFor = 200_000
	// MaxPURL bounds a package URL (pkg/vuln's MaxStringLength).
	MaxPURL = 1024
	// DefaultFindLimit and MaxFindLimit are FindPackages' default and largest page.
	DefaultFindLimit = 500
	MaxFindLimit     = 5000
	// MaxFindEcosystems bounds the ecosystems one FindPackages call names.
	MaxFindEcosystems = 64
)

// InventoryStore reads the packages of each artifact, read from the SBOMs of its scans,
// for the affected-by queries. They are written with Writer.PutPackages.
type InventoryStore interface {
	// PackagesFor returns every recorded inventory of an artifact and their packages
	// (sorted by package URL, then SBOM digest); empty lists, not an error, when none.
	PackagesFor(ctx context.Context, digest string) (*Inventory, error)
	// FindPackages returns, page by page, the packages named by the request: the
	// candidate rows of an affected-by query, ordered by artifact digest, then the
	// order they were recorded in.
	FindPackages(ctx context.Context, req FindPackagesRequest) (FindPackagesResponse, error)
}

// Package is one package of an artifact, from its SBOM.
type Package struct {
	// PURL is the package URL as the SBOM wrote it.
	PURL string
	// Type, Namespace, Name and Version are the package URL's parts (type in lower
	// case, the others decoded); qualifiers and subpath are left out.
	Type      string
	Namespace string
	Name      string
	Version   string
	// Ecosystem, OSVName and OSVVersion are how the vulnerability database names the
	// package (pkg/vuln's PackageFromPURL): the OSV ecosystem ("Debian:12"), the
	// normalised name (for Debian, the source package) and the version compared with
	// the records' ranges. All three are empty when the purl maps to no ecosystem.
	Ecosystem  string
	OSVName    string
	OSVVersion string
}

// ArtifactPackage is a recorded package of an artifact.
type ArtifactPackage struct {
	Digest     string
	SBOMDigest string
	Package
	// Seq is the row's position in recording order, unique across the table.
	Seq        int64
	RecordedAt time.Time
}

// SBOMInventory describes one indexed SBOM of an artifact.
type SBOMInventory struct {
	SBOMDigest string
	// Packages is how many packages were recorded; Skipped how many components were
	// left out (no package URL, or one that does not parse).
	Packages int64
	Skipped  int64
	// Problem says why the SBOM could not be read, in which case it has no packages: the
	// artifact's inventory is unknown, not empty.
	Problem    string
	RecordedAt time.Time
}

// Inventory is what the ledger recorded of an artifact's packages.
type Inventory struct {
	Digest   string
	SBOMs    []SBOMInventory
	Packages []ArtifactPackage
}

// PutPackagesRequest carries the packages of one SBOM of an artifact. When the SBOM
// could not be read, Problem says why and Packages is empty.
type PutPackagesRequest struct {
	Digest     string
	SBOMDigest string
	Packages   []Package
	Skipped    int64
	Problem    string
}

// PutPackagesResponse counts the packages that were new.
type PutPackagesResponse struct {
	// Inserted is the number of packages recorded by this call.
	Inserted int
	// InventoryInserted: the SBOM's inventory was not recorded before.
	InventoryInserted bool
}

// FindPackagesRequest names packages in one of two ways: by the vulnerability database's
// key (OSVName and Ecosystems) or by package URL (PURLType, PURLNamespace, PURLName).
type FindPackagesRequest struct {
	// OSVName is the normalised name the vulnerability database keys packages by;
	// Ecosystems lists the ecosystems a package's must equal (at most
	// MaxFindEcosystems); with WithReleases, one extending them after a ':' matches too
	// ("Debian" then finds "Debian:12").
	OSVName      string
	Ecosystems   []string
	WithReleases bool
	// PURLType, PURLNamespace and PURLName match a package URL's parts exactly.
	PURLType      string
	PURLNamespace string
	PURLName      string
	// Version, when set, keeps packages at exactly this version: the OSV version when
	// looking up by OSVName, the package URL's version otherwise.
	Version string
	// AfterDigest, when set, keeps packages of artifacts whose digest sorts after it.
	AfterDigest string
	// PromotedOnly keeps packages of artifacts with at least one completed promotion.
	PromotedOnly bool
	Scope        Scope
	// Limit is the page size: default DefaultFindLimit, at most MaxFindLimit.
	Limit  int
	Cursor string
}

// FindPackagesResponse is one page of packages.
type FindPackagesResponse struct {
	Packages   []ArtifactPackage
	NextCursor string
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r PutPackagesRequest) Validate() error {
	var v validator
	v.digest("inventory digest", r.Digest)
	v.digest("inventory SBOM digest", r.SBOMDigest)
	v.text("inventory problem", r.Problem, MaxLongText)
	if r.Skipped < 0 {
		v.fail("inventory skipped count %d is negative", r.Skipped)
	}
	if r.Problem != "" && len(r.Packages) > 0 {
		v.fail("an inventory with a problem has no packages")
	}
	if len(r.Packages) > MaxInventoryPackages {
		v.fail("%d packages, more than %d in one inventory", len(r.Packages), MaxInventoryPackages)
		return v.err()
	}
	for i, p := range r.Packages {
		if len(v.errs) >= 10 {
			break
		}
		what := fmt.Sprintf("package %d", i)
		v.required(what+" purl", p.PURL)
		v.text(what+" purl", p.PURL, MaxPURL)
		v.required(what+" type", p.Type)
		v.required(what+" name", p.Name)
		for _, f := range []struct{ name, val string }{
			{"type", p.Type}, {"namespace", p.Namespace}, {"name", p.Name}, {"version", p.Version},
			{"ecosystem", p.Ecosystem}, {"OSV name", p.OSVName}, {"OSV version", p.OSVVersion},
		} {
			v.text(what+" "+f.name, f.val, MaxPURL)
		}
		if (p.Ecosystem == "") != (p.OSVName == "") || (p.Ecosystem == "") != (p.OSVVersion == "") {
			v.fail("%s (%s): ecosystem, OSV name and OSV version go together", what, truncate(p.PURL))
		}
	}
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r FindPackagesRequest) Validate() error {
	var v validator
	byOSV, byPURL := r.OSVName != "", r.PURLType != "" || r.PURLName != ""
	switch {
	case byOSV && byPURL:
		v.fail("find packages by OSV name or by package URL, not both")
	case !byOSV && !byPURL:
		v.fail("find packages by OSV name and ecosystems, or by package URL type and name")
	case byOSV:
		v.text("OSV name", r.OSVName, MaxPURL)
		if len(r.Ecosystems) == 0 || len(r.Ecosystems) > MaxFindEcosystems {
			v.fail("%d ecosystems: name 1-%d", len(r.Ecosystems), MaxFindEcosystems)
		}
		for _, e := range r.Ecosystems {
			v.required("ecosystem", e)
			v.text("ecosystem", e, MaxPURL)
		}
		if r.PURLNamespace != "" {
			v.fail("a package URL namespace needs a package URL type and name")
		}
	default:
		v.required("package URL type", r.PURLType)
		v.required("package URL name", r.PURLName)
		v.text("package URL type", r.PURLType, MaxPURL)
		v.text("package URL namespace", r.PURLNamespace, MaxPURL)
		v.text("package URL name", r.PURLName, MaxPURL)
		if len(r.Ecosystems) > 0 || r.WithReleases {
			v.fail("ecosystems go with an OSV name, not a package URL")
		}
	}
	v.text("version", r.Version, MaxPURL)
	v.optDigest("after digest", r.AfterDigest)
	v.scope(r.Scope)
	v.limit(r.Limit, MaxFindLimit)
	if err := v.err(); err != nil {
		return err
	}
	_, err := r.After()
	return err
}

// PageSize returns the page size the request asks for.
func (r FindPackagesRequest) PageSize() int { return pageSize(r.Limit, DefaultFindLimit) }

func (r FindPackagesRequest) fingerprint() []byte {
	return Fingerprint(r.OSVName, listFingerprint(r.Ecosystems), fmt.Sprint(r.WithReleases), r.PURLType,
		r.PURLNamespace, r.PURLName, r.Version, r.AfterDigest, fmt.Sprint(r.PromotedOnly), r.Scope.fingerprint())
}

// After returns the position (Key: digest, Seq: row sequence) the cursor continues
// from; nil without a cursor.
func (r FindPackagesRequest) After() (*Position, error) {
	if r.Cursor == "" {
		return nil, nil
	}
	p, err := DecodeCursor(CursorPackages, r.fingerprint(), r.Cursor)
	if err != nil {
		return nil, err
	}
	if !p.Time.IsZero() || p.Seq < 0 || !ValidDigest(p.Key) {
		return nil, fmt.Errorf("%w: cursor holds an impossible position: start again without a cursor", ErrInvalid)
	}
	return &p, nil
}

// CursorAfter returns the cursor that continues this listing after the package p.
func (r FindPackagesRequest) CursorAfter(p ArtifactPackage) string {
	return EncodeCursor(CursorPackages, r.fingerprint(), Position{Seq: p.Seq, Key: p.Digest})
}

package ledger

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	packageurl "github.com/anchore/packageurl-go"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
)

// Bounds on affected-by queries.
const (
	// DefaultAffectedLimit and MaxAffectedLimit are the default and largest number of
	// artifacts one Affected call returns.
	DefaultAffectedLimit = 50
	MaxAffectedLimit     = 500
	// maxAffectedStreams bounds the package names one query looks candidates up by.
	maxAffectedStreams = 256
	// maxRangeConstraints bounds the constraints of a version range.
	maxRangeConstraints = 16
	// findBatch is how many candidate packages one FindPackages call fetches.
	findBatch = 1000
	// cursorAffected is the kind of an Affected cursor.
	cursorAffected = "affected"
)

// affectedBudget bounds the candidate packages one Affected call examines: a call that
// reaches it stops after the artifact at hand and returns what it found, with a cursor
// to go on. It keeps one call's cost bounded however few candidates are affected. A
// variable so that tests can lower it.
var affectedBudget = 20_000

// AffectedStore is what Affected reads: the vulnerability database, the artifacts'
// package inventories and their summaries. Every ledger.Store is one.
type AffectedStore interface {
	VulnRecordsByID(ctx context.Context, req ledger.VulnRecordsByIDRequest) (ledger.VulnRecordsResponse, error)
	FindPackages(ctx context.Context, req ledger.FindPackagesRequest) (ledger.FindPackagesResponse, error)
	ArtifactSummaries(ctx context.Context, req ledger.ArtifactSummariesRequest) (ledger.ArtifactSummariesResponse, error)
}

// AffectedRequest asks which artifacts are affected by a vulnerability or hold a
// package. Give exactly one of: VulnID; PURL; or Ecosystem, Name and Range.
type AffectedRequest struct {
	// VulnID is an OSV id or an id a record names among its aliases or upstream ids
	// (CVE-2024-2511, GHSA-h5c8-rqwp-cp95, DSA-5532-1). "cve-" and "ghsa-" ids are
	// also tried in their canonical case.
	VulnID string
	// PURL is a package URL: with a version, packages at exactly that version; without
	// one, every version. Its qualifiers, if any, must all be on a package's URL too.
	PURL string
	// Ecosystem (an OSV ecosystem: "PyPI", "Debian" for every Debian release,
	// "Debian:12"), Name and Range (">=1.2.0,<1.4.3": comma-separated constraints with
	// the operators >=, >, <=, <, = and !=) name the package versions in the
	// ecosystem's own version order. The versions compared are the ones the
	// vulnerability database compares (for Debian, the source package's).
	Ecosystem string
	Name      string
	Range     string
	// PromotedOnly keeps artifacts with at least one completed promotion.
	PromotedOnly bool
	Scope        ledger.Scope
	// Limit is the page size: default DefaultAffectedLimit, at most MaxAffectedLimit.
	Limit int
	// Cursor continues from a previous response's NextCursor, with the same query.
	Cursor string
}

// AffectedResponse is one page of affected artifacts, by digest. A page may hold fewer
// artifacts than the limit, even none, while NextCursor is set: one call examines a
// bounded number of candidate packages.
type AffectedResponse struct {
	// Vulnerabilities are the records a VulnID query was answered from.
	Vulnerabilities []AffectedVulnerability
	Artifacts       []AffectedArtifact
	NextCursor      string
}

// AffectedVulnerability is a record a VulnID query was answered from.
type AffectedVulnerability struct {
	ID      string
	Aliases []string
	Summary string
	// Withdrawn records match nothing.
	Withdrawn bool
}

// AffectedArtifact is an artifact with matched packages.
type AffectedArtifact struct {
	Digest string
	Image  string
	Status ledger.ArtifactStatus
	// Promoted: at least one promotion of it completed; Destinations are where.
	Promoted     bool
	Destinations []string
	// Packages are the matches, by package URL, then vulnerability id.
	Packages []AffectedPackage
}

// AffectedPackage is one matched package of an artifact.
type AffectedPackage struct {
	PURL string
	// Version is the package URL's version.
	Version string
	// Ecosystem is the package's OSV ecosystem; MatchedVersion the version compared
	// with the vulnerability's or the query's range (for Debian, the source version).
	Ecosystem      string
	MatchedVersion string
	// VulnID is the record that affects the package, and Fixed the versions that fix it
	// there, ascending; both empty for PURL and range queries.
	VulnID string
	Fixed  []string
}

var vulnIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Validate reports what is wrong with the request, wrapping ErrInvalid and naming the
// field (as the HTTP API's parameter: vuln, purl, ecosystem, name, range, limit, cursor).
func (r AffectedRequest) Validate() error {
	_, err := r.parse()
	return err
}

// PageSize returns the page size the request asks for.
func (r AffectedRequest) PageSize() int {
	if r.Limit == 0 {
		return DefaultAffectedLimit
	}
	return r.Limit
}

func (r AffectedRequest) fingerprint() []byte {
	scope := "*"
	if !r.Scope.All {
		scope = strings.Join(r.Scope.RepositoryPrefixes, "\x00")
	}
	return ledger.Fingerprint(r.VulnID, r.PURL, r.Ecosystem, r.Name, r.Range, fmt.Sprint(r.PromotedOnly), scope)
}

// affectedQuery is a validated request, ready to run.
type affectedQuery struct {
	after string // the digest the cursor continues after
	purl  *packageurl.PackageURL
	rng   []constraint
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ledger.ErrInvalid, fmt.Sprintf(format, args...))
}

func (r AffectedRequest) parse() (affectedQuery, error) {
	var q affectedQuery
	modes := 0
	for _, set := range []bool{r.VulnID != "", r.PURL != "", r.Ecosystem != "" || r.Name != "" || r.Range != ""} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return q, invalid("give exactly one of vuln, purl, or ecosystem with name and range")
	}
	switch {
	case r.VulnID != "":
		if !vulnIDRE.MatchString(r.VulnID) {
			return q, invalid("vuln %q is not a vulnerability id (letters, digits, '.', '_', ':', '-'; at most 128)", clip(r.VulnID))
		}
	case r.PURL != "":
		if len(r.PURL) > ledger.MaxPURL {
			return q, invalid("purl is longer than %d bytes", ledger.MaxPURL)
		}
		u, err := packageurl.FromString(r.PURL)
		if err != nil || u.Type == "" || u.Name == "" {
			return q, invalid("purl %q is not a package URL (pkg:type/namespace/name@version)", clip(r.PURL))
		}
		for _, s := range []string{u.Type, u.Namespace, u.Name, u.Version} {
			if !recordable(s) {
				return q, invalid("purl %q has a part that is not text", clip(r.PURL))
			}
		}
		q.purl = &u
	default:
		switch {
		case r.Ecosystem == "":
			return q, invalid("ecosystem is missing: a range query names an ecosystem, a name and a range")
		case r.Name == "" || !recordable(r.Name):
			return q, invalid("name is missing or not text: a range query names an ecosystem, a name and a range")
		case !recordable(r.Ecosystem) || !vuln.Supported(r.Ecosystem):
			return q, invalid("ecosystem %q: versions of it cannot be ordered; use an OSV ecosystem such as PyPI, npm, Go, Debian or Debian:12", clip(r.Ecosystem))
		}
		rng, err := parseRange(r.Ecosystem, r.Range)
		if err != nil {
			return q, err
		}
		q.rng = rng
	}
	if r.Limit < 0 || r.Limit > MaxAffectedLimit {
		return q, invalid("limit %d: use 1-%d (0 for the default)", r.Limit, MaxAffectedLimit)
	}
	if err := r.Scope.Validate(); err != nil {
		return q, err
	}
	if r.Cursor != "" {
		p, err := ledger.DecodeCursor(cursorAffected, r.fingerprint(), r.Cursor)
		if err != nil {
			return q, err
		}
		if !p.Time.IsZero() || p.Seq != 0 || !ledger.ValidDigest(p.Key) {
			return q, invalid("cursor holds an impossible position: start again without a cursor")
		}
		q.after = p.Key
	}
	return q, nil
}

// Affected lists, page by page in digest order, the artifacts affected by a
// vulnerability or holding a package, with the matched packages, whether each was
// promoted and where to.
//
// For a vulnerability id it finds the records the id names (their ids, aliases and
// upstream ids; then, one step further, the records known by any id those name, so that
// a GHSA id also finds Debian's record of the same CVE), looks up the recorded packages
// of every package the records name (ledger.FindPackages by OSV name, in the ecosystems
// that a record's ecosystem covers) and decides each package's version with pkg/vuln's
// own matcher (vuln.Match: the records' ranges and versions in the ecosystem's order).
// An artifact whose package is at a fixed version is not listed.
//
// Cost: the candidates come from index range scans (see FindPackages), one per package
// name, merged by digest; a call examines at most a bounded number of them, and each
// version is decided once per call.
func Affected(ctx context.Context, store AffectedStore, req AffectedRequest) (AffectedResponse, error) {
	resp := AffectedResponse{Vulnerabilities: []AffectedVulnerability{}, Artifacts: []AffectedArtifact{}}
	q, err := req.parse()
	if err != nil {
		return resp, err
	}
	base := ledger.FindPackagesRequest{PromotedOnly: req.PromotedOnly, Scope: req.Scope, AfterDigest: q.after}
	var streams []ledger.FindPackagesRequest
	var decide func(ledger.ArtifactPackage) ([]AffectedPackage, error)
	switch {
	case req.VulnID != "":
		recs, err := vulnRecords(ctx, store, req.VulnID)
		if err != nil {
			return resp, err
		}
		for _, r := range recs {
			resp.Vulnerabilities = append(resp.Vulnerabilities, AffectedVulnerability{
				ID: r.ID, Aliases: vulnAliases(r), Summary: r.Summary, Withdrawn: r.IsWithdrawn(),
			})
		}
		if streams, err = recordStreams(base, recs); err != nil {
			return resp, fmt.Errorf("vuln %s: %w", req.VulnID, err)
		}
		decide = vulnDecider(ctx, recs)
	case q.purl != nil:
		s := base
		s.PURLType, s.PURLNamespace, s.PURLName, s.Version = strings.ToLower(q.purl.Type), q.purl.Namespace, q.purl.Name, q.purl.Version
		streams = []ledger.FindPackagesRequest{s}
		decide = purlDecider(*q.purl)
	default:
		s := base
		s.OSVName, s.Ecosystems, s.WithReleases = vuln.NormalizeName(req.Ecosystem, req.Name), []string{req.Ecosystem}, true
		streams = []ledger.FindPackagesRequest{s}
		decide = rangeDecider(q.rng)
	}
	found, last, more, err := walkCandidates(ctx, store, streams, req.PageSize(), decide)
	if err != nil {
		return AffectedResponse{}, err
	}
	if resp.Artifacts, err = summarise(ctx, store, found, req); err != nil {
		return AffectedResponse{}, err
	}
	if more {
		resp.NextCursor = ledger.EncodeCursor(cursorAffected, req.fingerprint(), ledger.Position{Key: last})
	}
	return resp, nil
}

// vulnRecords returns the records a vulnerability id names, sorted by id, or
// ErrNotFound.
func vulnRecords(ctx context.Context, store AffectedStore, id string) ([]*vuln.Record, error) {
	ids := []string{id}
	switch lower := strings.ToLower(id); {
	case strings.HasPrefix(lower, "cve-"):
		ids = append(ids, strings.ToUpper(id))
	case strings.HasPrefix(lower, "ghsa-"):
		ids = append(ids, "GHSA-"+lower[len("ghsa-"):])
	}
	byID := map[string]*vuln.Record{}
	lookup := func(ids []string) error {
		found, err := store.VulnRecordsByID(ctx, ledger.VulnRecordsByIDRequest{IDs: ids})
		if err != nil {
			return fmt.Errorf("vulnerability %s: %w", id, err)
		}
		for _, sr := range found.Records {
			if byID[sr.ID] != nil {
				continue
			}
			r, err := vuln.Parse(sr.Raw)
			if err != nil {
				return fmt.Errorf("vulnerability %s: stored record %s: %w", id, sr.ID, err)
			}
			byID[sr.ID] = r
		}
		return nil
	}
	if err := lookup(slices.Compact(ids)); err != nil {
		return nil, err
	}
	if len(byID) == 0 {
		return nil, fmt.Errorf("no record of %s (nor one naming it as an alias or upstream id) is in the vulnerability database: %w",
			id, ledger.ErrNotFound)
	}
	// One step further: the records known by an id these are known by.
	next := map[string]bool{}
	for _, r := range byID {
		for _, a := range append([]string{r.ID}, vulnAliases(r)...) {
			if !slices.Contains(ids, a) {
				next[a] = true
			}
		}
	}
	if len(next) > 0 {
		more := slices.Sorted(maps.Keys(next))
		if len(more) > ledger.MaxVulnIDQuery {
			more = more[:ledger.MaxVulnIDQuery]
		}
		if err := lookup(more); err != nil {
			return nil, err
		}
	}
	recs := slices.Collect(maps.Values(byID))
	slices.SortFunc(recs, func(a, b *vuln.Record) int { return strings.Compare(a.ID, b.ID) })
	return recs, nil
}

// recordStreams returns the FindPackages requests that find the candidates of the
// records: per package name, the ecosystems a package may be recorded in for a record's
// ecosystem to cover it (the record's, and each of its prefixes ending before a ':', as
// vuln.EcosystemMatches decides).
func recordStreams(base ledger.FindPackagesRequest, recs []*vuln.Record) ([]ledger.FindPackagesRequest, error) {
	ecosByName := map[string]map[string]bool{}
	for _, r := range recs {
		if r.IsWithdrawn() {
			continue
		}
		for _, a := range r.Affected {
			k := a.Package.Key()
			if ecosByName[k.Name] == nil {
				ecosByName[k.Name] = map[string]bool{}
			}
			for i := len(k.Ecosystem); i > 0; i-- {
				if i == len(k.Ecosystem) || k.Ecosystem[i] == ':' {
					ecosByName[k.Name][k.Ecosystem[:i]] = true
				}
			}
		}
	}
	var streams []ledger.FindPackagesRequest
	for _, name := range slices.Sorted(maps.Keys(ecosByName)) {
		ecos := slices.Sorted(maps.Keys(ecosByName[name]))
		for chunk := range slices.Chunk(ecos, ledger.MaxFindEcosystems) {
			s := base
			s.OSVName, s.Ecosystems = name, chunk
			streams = append(streams, s)
		}
	}
	if len(streams) > maxAffectedStreams {
		return nil, invalid("the records name %d packages, more than the %d one query looks up: query by purl instead",
			len(streams), maxAffectedStreams)
	}
	return streams, nil
}

// vulnDecider matches a candidate with pkg/vuln against the records, each version once.
func vulnDecider(ctx context.Context, recs []*vuln.Record) func(ledger.ArtifactPackage) ([]AffectedPackage, error) {
	db := vuln.NewDB()
	for _, r := range recs {
		db.Add(r)
	}
	type key struct{ eco, name, version string }
	cache := map[key][]vuln.Finding{}
	return func(p ledger.ArtifactPackage) ([]AffectedPackage, error) {
		k := key{p.Ecosystem, p.OSVName, p.OSVVersion}
		findings, ok := cache[k]
		if !ok {
			rep, err := vuln.Match(ctx, db, []vuln.ScanPackage{{PURL: p.PURL, Ecosystem: p.Ecosystem, Name: p.OSVName, Version: p.OSVVersion}})
			if err != nil {
				return nil, err
			}
			findings = rep.Findings
			cache[k] = findings
		}
		var out []AffectedPackage
		for _, f := range findings {
			if f.Affected() {
				out = append(out, AffectedPackage{PURL: p.PURL, Version: p.Version, Ecosystem: p.Ecosystem,
					MatchedVersion: p.OSVVersion, VulnID: f.ID, Fixed: f.Fixed})
			}
		}
		return out, nil
	}
}

// purlDecider keeps candidates whose package URL carries the query's qualifiers.
func purlDecider(query packageurl.PackageURL) func(ledger.ArtifactPackage) ([]AffectedPackage, error) {
	want := query.Qualifiers.Map()
	return func(p ledger.ArtifactPackage) ([]AffectedPackage, error) {
		if len(want) > 0 {
			u, err := packageurl.FromString(p.PURL)
			if err != nil {
				return nil, nil
			}
			have := u.Qualifiers.Map()
			for k, v := range want {
				if have[k] != v {
					return nil, nil
				}
			}
		}
		return []AffectedPackage{{PURL: p.PURL, Version: p.Version, Ecosystem: p.Ecosystem}}, nil
	}
}

// rangeDecider keeps candidates whose version lies in the range.
func rangeDecider(rng []constraint) func(ledger.ArtifactPackage) ([]AffectedPackage, error) {
	cache := map[[2]string]bool{}
	return func(p ledger.ArtifactPackage) ([]AffectedPackage, error) {
		k := [2]string{p.Ecosystem, p.OSVVersion}
		in, ok := cache[k]
		if !ok {
			in = inVersionRange(rng, p.Ecosystem, p.OSVVersion)
			cache[k] = in
		}
		if !in {
			return nil, nil
		}
		return []AffectedPackage{{PURL: p.PURL, Version: p.Version, Ecosystem: p.Ecosystem, MatchedVersion: p.OSVVersion}}, nil
	}
}

// candidateStream is one FindPackages walk, buffered.
type candidateStream struct {
	req  ledger.FindPackagesRequest
	buf  []ledger.ArtifactPackage
	done bool
}

// walkCandidates merges the streams by digest and decides each artifact's candidates
// together. It stops after limit affected artifacts, when the streams run out, or once
// it has examined affectedBudget candidates; more says whether candidates remain after
// last, the last digest it decided.
func walkCandidates(ctx context.Context, store AffectedStore, reqs []ledger.FindPackagesRequest, limit int,
	decide func(ledger.ArtifactPackage) ([]AffectedPackage, error)) (found []AffectedArtifact, last string, more bool, err error) {
	// Batches follow the page size (a small page should not read far ahead, which costs
	// most when a scope or promotedOnly keeps few candidates), and many streams fetch
	// smaller ones, so that filling each once stays near the budget.
	batch := max(50, min(findBatch, 4*limit, affectedBudget/max(1, len(reqs))))
	streams := make([]*candidateStream, len(reqs))
	for i, r := range reqs {
		r.Limit = batch
		streams[i] = &candidateStream{req: r}
	}
	examined := 0
	fill := func(s *candidateStream) error {
		if len(s.buf) > 0 || s.done {
			return nil
		}
		resp, err := store.FindPackages(ctx, s.req)
		if err != nil {
			return fmt.Errorf("find candidate packages: %w", err)
		}
		s.buf, s.req.Cursor, s.done = resp.Packages, resp.NextCursor, resp.NextCursor == ""
		examined += len(resp.Packages)
		return nil
	}
	remaining := func() (bool, error) {
		for _, s := range streams {
			if err := fill(s); err != nil {
				return false, err
			}
			if len(s.buf) > 0 {
				return true, nil
			}
		}
		return false, nil
	}
	for {
		if ok, err := remaining(); err != nil || !ok {
			return found, last, false, err
		}
		// Stop at a full page, or at the budget once some artifact was decided (so that
		// every call makes progress).
		if len(found) == limit || (examined >= affectedBudget && last != "") {
			return found, last, true, nil
		}
		digest := ""
		for _, s := range streams {
			if len(s.buf) > 0 && (digest == "" || s.buf[0].Digest < digest) {
				digest = s.buf[0].Digest
			}
		}
		var pkgs []AffectedPackage
		for _, s := range streams {
			for {
				if err := fill(s); err != nil {
					return nil, "", false, err
				}
				if len(s.buf) == 0 || s.buf[0].Digest != digest {
					break
				}
				matched, err := decide(s.buf[0])
				if err != nil {
					return nil, "", false, err
				}
				pkgs = append(pkgs, matched...)
				s.buf = s.buf[1:]
			}
		}
		last = digest
		if len(pkgs) > 0 {
			found = append(found, AffectedArtifact{Digest: digest, Packages: uniquePackages(pkgs)})
		}
	}
}

// uniquePackages sorts matches by package URL and vulnerability id and drops repeats
// (the same package in two SBOMs of one artifact).
func uniquePackages(pkgs []AffectedPackage) []AffectedPackage {
	slices.SortFunc(pkgs, func(a, b AffectedPackage) int {
		return cmp.Or(strings.Compare(a.PURL, b.PURL), strings.Compare(a.VulnID, b.VulnID))
	})
	return slices.CompactFunc(pkgs, func(a, b AffectedPackage) bool { return a.PURL == b.PURL && a.VulnID == b.VulnID })
}

// summarise fills in each artifact's image, status and destinations, leaving out any the
// scope does not allow or (with PromotedOnly) that is not promoted.
func summarise(ctx context.Context, store AffectedStore, found []AffectedArtifact, req AffectedRequest) ([]AffectedArtifact, error) {
	out := []AffectedArtifact{}
	if len(found) == 0 {
		return out, nil
	}
	digests := make([]string, len(found))
	for i, a := range found {
		digests[i] = a.Digest
	}
	sums, err := store.ArtifactSummaries(ctx, ledger.ArtifactSummariesRequest{Digests: digests, Scope: req.Scope})
	if err != nil {
		return nil, fmt.Errorf("summarise affected artifacts: %w", err)
	}
	byDigest := map[string]ledger.ArtifactSummary{}
	for _, s := range sums.Artifacts {
		byDigest[s.Digest] = s
	}
	for _, a := range found {
		s, ok := byDigest[a.Digest]
		if !ok || (req.PromotedOnly && s.Status != ledger.StatusPromoted) {
			continue
		}
		a.Image, a.Status, a.Promoted, a.Destinations = s.Image, s.Status, s.Status == ledger.StatusPromoted, s.DestinationImages
		out = append(out, a)
	}
	return out, nil
}

// constraint is one comparison of a version range.
type constraint struct {
	op string
	v  vuln.Version
}

var rangeOps = []string{">=", "<=", "!=", "==", ">", "<", "="}

// parseRange reads a comma-separated list of constraints, each an operator and a version
// of the ecosystem.
func parseRange(ecosystem, s string) ([]constraint, error) {
	if strings.TrimSpace(s) == "" {
		return nil, invalid("range is missing: give constraints such as >=1.2.0,<1.4.3")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxRangeConstraints {
		return nil, invalid("range has %d constraints, more than %d", len(parts), maxRangeConstraints)
	}
	var out []constraint
	for _, part := range parts {
		part = strings.TrimSpace(part)
		op := ""
		for _, o := range rangeOps {
			if strings.HasPrefix(part, o) {
				op = o
				break
			}
		}
		version := strings.TrimSpace(strings.TrimPrefix(part, op))
		if op == "" || version == "" {
			return nil, invalid("range constraint %q: write an operator (>=, >, <=, <, =, !=) and a version", clip(part))
		}
		v, err := vuln.ParseVersion(ecosystem, version)
		if err != nil {
			return nil, invalid("range constraint %q: %v", clip(part), err)
		}
		out = append(out, constraint{op: op, v: v})
	}
	return out, nil
}

// inVersionRange reports whether version (of ecosystem) meets every constraint; a
// version that cannot be parsed or compared meets none.
func inVersionRange(rng []constraint, ecosystem, version string) bool {
	v, err := vuln.ParseVersion(ecosystem, version)
	if err != nil {
		return false
	}
	for _, c := range rng {
		n, err := v.Compare(c.v)
		if err != nil {
			return false
		}
		var ok bool
		switch c.op {
		case ">=":
			ok = n >= 0
		case ">":
			ok = n > 0
		case "<=":
			ok = n <= 0
		case "<":
			ok = n < 0
		case "!=":
			ok = n != 0
		default:
			ok = n == 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// clip bounds untrusted input quoted in an error.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return strings.ToValidUTF8(s[:80], "") + "..."
}

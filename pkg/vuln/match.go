package vuln

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Finding statuses, as OpenVEX names them.
const (
	StatusAffected           = "affected"
	StatusNotAffected        = "not_affected"
	StatusFixed              = "fixed"
	StatusUnderInvestigation = "under_investigation"
)

// MaxPackages bounds the packages one [Match] call takes.
const MaxPackages = 100000

// Source looks up the records that name a package. ecosystem may be a prefix of the
// records' ecosystems (see [EcosystemMatches]); name is normalised with [NormalizeName].
// Records that do not affect the package may be returned; [Match] filters them.
type Source interface {
	Lookup(ctx context.Context, ecosystem, name string) ([]*Record, error)
}

// BatchSource is a Source that can look up many packages in one call; [Match] uses it
// when the source offers it, so that a scan costs one round trip.
type BatchSource interface {
	Source
	LookupBatch(ctx context.Context, keys []PackageKey) (map[PackageKey][]*Record, error)
}

// ScanPackage is a package to match: its package URL and, when the URL cannot say it,
// an explicit ecosystem, name and version.
type ScanPackage struct {
	PURL      string `json:"purl"`
	Ecosystem string `json:"ecosystem,omitempty"`
	Name      string `json:"name,omitempty"`
	Version   string `json:"version,omitempty"`
}

// Report is the result of matching packages against a source.
type Report struct {
	// Packages is the number of packages looked at.
	Packages int `json:"packages"`
	// Findings are sorted by package URL, then vulnerability id.
	Findings []Finding `json:"findings"`
	// Unmatchable lists the packages whose ecosystem or version could not be ordered.
	Unmatchable []Unmatchable `json:"unmatchable,omitempty"`
}

// Unmatchable is a package that could not be checked, and why.
type Unmatchable struct {
	PURL   string `json:"purl"`
	Reason string `json:"reason"`
}

// Finding is one vulnerability affecting one package.
type Finding struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases,omitempty"`
	Summary   string   `json:"summary,omitempty"`
	Severity  Score    `json:"severity"`
	PURL      string   `json:"purl"`
	Ecosystem string   `json:"ecosystem"`
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	// Fixed lists the versions that fix the vulnerability in this package, ascending.
	Fixed []string `json:"fixed,omitempty"`
	// Status is affected unless a VEX statement said otherwise.
	Status string `json:"status"`
	// VEX names the statement applied: document id, justification, impact statement.
	VEX *VEXNote `json:"vex,omitempty"`
}

// VEXNote records which VEX statement changed a finding's status.
type VEXNote struct {
	Document        string `json:"document"`
	Justification   string `json:"justification,omitempty"`
	ImpactStatement string `json:"impactStatement,omitempty"`
	ActionStatement string `json:"actionStatement,omitempty"`
}

// Affected reports whether the finding still counts against the artifact: its status
// is affected or under_investigation.
func (f Finding) Affected() bool {
	return f.Status == StatusAffected || f.Status == StatusUnderInvestigation
}

// Match matches packages against the records of src. Packages whose URL cannot be mapped
// or whose ecosystem cannot order versions are listed in Report.Unmatchable.
func Match(ctx context.Context, src Source, pkgs []ScanPackage) (*Report, error) {
	if len(pkgs) > MaxPackages {
		return nil, fmt.Errorf("match: %d packages exceed %d", len(pkgs), MaxPackages)
	}
	rep := &Report{Packages: len(pkgs), Findings: []Finding{}}
	type item struct {
		pkg ScanPackage
		ref PackageRef
	}
	var items []item
	for _, p := range pkgs {
		ref, err := refOf(p)
		if err == nil && !Supported(ref.Ecosystem) {
			err = fmt.Errorf("%w: %w %q", ErrNotMatchable, ErrUnsupportedEcosystem, ref.Ecosystem)
		}
		if err == nil {
			_, err = ParseVersion(ref.Ecosystem, ref.Version)
		}
		if err != nil {
			rep.Unmatchable = append(rep.Unmatchable, Unmatchable{PURL: p.PURL, Reason: err.Error()})
			continue
		}
		items = append(items, item{pkg: p, ref: ref})
	}
	keys := make([]PackageKey, 0, len(items))
	seen := map[PackageKey]bool{}
	for _, it := range items {
		if !seen[it.ref.PackageKey] {
			seen[it.ref.PackageKey] = true
			keys = append(keys, it.ref.PackageKey)
		}
	}
	records, err := lookupAll(ctx, src, keys)
	if err != nil {
		return nil, err
	}
	done := map[[2]string]bool{}
	for _, it := range items {
		for _, r := range records[it.ref.PackageKey] {
			if r.IsWithdrawn() {
				continue
			}
			f, ok := matchRecord(r, it.ref)
			if !ok || done[[2]string{it.pkg.PURL, r.ID}] {
				continue
			}
			done[[2]string{it.pkg.PURL, r.ID}] = true
			f.PURL = it.pkg.PURL
			rep.Findings = append(rep.Findings, f)
		}
	}
	slices.SortFunc(rep.Findings, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.PURL, b.PURL), strings.Compare(a.ID, b.ID))
	})
	return rep, nil
}

func refOf(p ScanPackage) (PackageRef, error) {
	if p.Ecosystem != "" && p.Name != "" && p.Version != "" {
		return PackageRef{
			PackageKey: PackageKey{Ecosystem: p.Ecosystem, Name: NormalizeName(p.Ecosystem, p.Name)},
			Version:    p.Version,
		}, nil
	}
	return PackageFromPURL(p.PURL)
}

func lookupAll(ctx context.Context, src Source, keys []PackageKey) (map[PackageKey][]*Record, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if b, ok := src.(BatchSource); ok {
		m, err := b.LookupBatch(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("look up %d packages: %w", len(keys), err)
		}
		return m, nil
	}
	m := make(map[PackageKey][]*Record, len(keys))
	for _, k := range keys {
		recs, err := src.Lookup(ctx, k.Ecosystem, k.Name)
		if err != nil {
			return nil, fmt.Errorf("look up %s %s: %w", k.Ecosystem, k.Name, err)
		}
		m[k] = recs
	}
	return m, nil
}

// matchRecord checks one record against one package and builds the finding.
func matchRecord(r *Record, ref PackageRef) (Finding, bool) {
	v, err := ParseVersion(ref.Ecosystem, ref.Version)
	if err != nil {
		return Finding{}, false
	}
	var hit *Affected
	var fixed []string
	for i := range r.Affected {
		a := &r.Affected[i]
		if !EcosystemMatches(ref.Ecosystem, a.Package.Ecosystem) ||
			NormalizeName(a.Package.Ecosystem, a.Package.Name) != ref.Name {
			continue
		}
		if affects(a, ref.Ecosystem, v) {
			if hit == nil {
				hit = a
			}
			fixed = append(fixed, fixedVersions(a)...)
		}
	}
	if hit == nil {
		return Finding{}, false
	}
	fixed = sortVersions(ref.Ecosystem, fixed)
	return Finding{
		ID:        r.ID,
		Aliases:   slices.Clone(r.Aliases),
		Summary:   r.Summary,
		Severity:  scoreOf(r, hit),
		Ecosystem: hit.Package.Ecosystem,
		Name:      hit.Package.Name,
		Version:   ref.Version,
		Fixed:     fixed,
		Status:    StatusAffected,
	}, true
}

// affects applies the OSV evaluation: the version is affected if the versions list
// holds it, or any SEMVER or ECOSYSTEM range contains it. GIT ranges name commits,
// not versions, and are ignored.
func affects(a *Affected, ecosystem string, v Version) bool {
	for _, s := range a.Versions {
		w, err := ParseVersion(ecosystem, s)
		if err != nil {
			continue
		}
		if c, err := v.Compare(w); err == nil && c == 0 {
			return true
		}
	}
	for i := range a.Ranges {
		rg := &a.Ranges[i]
		var parse func(string) (Version, error)
		switch rg.Type {
		case RangeEcosystem:
			parse = func(s string) (Version, error) { return ParseVersion(ecosystem, s) }
		case RangeSemver:
			sv, err := semverVersion(v.raw)
			if err == nil && inRange(rg.Events, sv, semverVersion) {
				return true
			}
			continue
		default:
			continue
		}
		if inRange(rg.Events, v, parse) {
			return true
		}
	}
	return false
}

type parsedEvent struct {
	kind int // order at equal versions: introduced, then fixed/last_affected
	v    Version
	zero bool // introduced "0"
}

const (
	evIntroduced = iota
	evFixed
	evLastAffected
)

// inRange evaluates one range as the OSV specification's reference algorithm does:
// events sorted by version (introduced "0" first), walk them, introduced ≤ v opens,
// fixed ≤ v closes, last_affected < v closes. A version must also lie below any limit.
// Events whose version cannot be parsed are skipped.
func inRange(events []Event, v Version, parse func(string) (Version, error)) bool {
	var evs []parsedEvent
	var limits []Version
	unlimited := false
	for _, e := range events {
		switch {
		case e.Introduced != "":
			if e.Introduced == "0" {
				evs = append(evs, parsedEvent{kind: evIntroduced, zero: true})
				continue
			}
			if w, err := parse(e.Introduced); err == nil {
				evs = append(evs, parsedEvent{kind: evIntroduced, v: w})
			}
		case e.Fixed != "":
			if w, err := parse(e.Fixed); err == nil {
				evs = append(evs, parsedEvent{kind: evFixed, v: w})
			}
		case e.LastAffected != "":
			if w, err := parse(e.LastAffected); err == nil {
				evs = append(evs, parsedEvent{kind: evLastAffected, v: w})
			}
		case e.Limit != "":
			if e.Limit == "*" {
				unlimited = true
			} else if w, err := parse(e.Limit); err == nil {
				limits = append(limits, w)
			}
		}
	}
	if len(limits) > 0 && !unlimited {
		below := false
		for _, l := range limits {
			if c, err := v.Compare(l); err == nil && c < 0 {
				below = true
				break
			}
		}
		if !below {
			return false
		}
	}
	slices.SortStableFunc(evs, func(a, b parsedEvent) int {
		switch {
		case a.zero && b.zero:
			return 0
		case a.zero:
			return -1
		case b.zero:
			return 1
		}
		c, err := a.v.Compare(b.v)
		if err != nil || c == 0 {
			return cmp.Compare(a.kind, b.kind)
		}
		return c
	})
	affected := false
	for _, e := range evs {
		if e.zero {
			affected = true
			continue
		}
		c, err := v.Compare(e.v)
		if err != nil {
			continue
		}
		switch e.kind {
		case evIntroduced:
			if c >= 0 {
				affected = true
			}
		case evFixed:
			if c >= 0 {
				affected = false
			}
		case evLastAffected:
			if c > 0 {
				affected = false
			}
		}
	}
	return affected
}

func fixedVersions(a *Affected) []string {
	var out []string
	for _, rg := range a.Ranges {
		if rg.Type == RangeGit {
			continue
		}
		for _, e := range rg.Events {
			if e.Fixed != "" {
				out = append(out, e.Fixed)
			}
		}
	}
	return out
}

// sortVersions sorts and de-duplicates versions by the ecosystem's order; versions that
// do not parse go last, in string order.
func sortVersions(ecosystem string, vs []string) []string {
	if len(vs) == 0 {
		return nil
	}
	slices.SortFunc(vs, func(a, b string) int {
		c, err := CompareVersions(ecosystem, a, b)
		if err != nil {
			return strings.Compare(a, b)
		}
		return cmp.Or(c, strings.Compare(a, b))
	})
	return slices.Compact(vs)
}

// DB is an in-memory [Source]: records indexed by package, for `custody scan --vulndb`
// and tests. It keeps, for each id, the record with the newest modified time.
type DB struct {
	uri    string
	byID   map[string]*Record
	byName map[string]map[string][]string // name → ecosystem → ids
}

// NewDB returns an empty database.
func NewDB() *DB {
	return &DB{byID: map[string]*Record{}, byName: map[string]map[string][]string{}}
}

// LoadDB loads every record under path (see [Load]) into a new DB.
func LoadDB(path string) (*DB, error) {
	db := NewDB()
	err := Load(path, func(_ []byte, r *Record) error {
		db.Add(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.uri = "file://" + filepath.ToSlash(absPath(path))
	return db, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Add adds a record, replacing an older one with the same id; it reports whether the
// database changed.
func (db *DB) Add(r *Record) bool {
	if old, ok := db.byID[r.ID]; ok {
		if !r.Modified.After(old.Modified) {
			return false
		}
	}
	db.byID[r.ID] = r
	for _, k := range IndexKeys(r) {
		eco := db.byName[k.Name]
		if eco == nil {
			eco = map[string][]string{}
			db.byName[k.Name] = eco
		}
		if !slices.Contains(eco[k.Ecosystem], r.ID) {
			eco[k.Ecosystem] = append(eco[k.Ecosystem], r.ID)
		}
	}
	return true
}

// Len returns the number of records.
func (db *DB) Len() int { return len(db.byID) }

// Lookup implements [Source].
func (db *DB) Lookup(_ context.Context, ecosystem, name string) ([]*Record, error) {
	if ecosystem == "" || name == "" {
		return nil, errors.New("lookup: ecosystem and name are required")
	}
	var out []*Record
	seen := map[string]bool{}
	for eco, ids := range db.byName[name] {
		if !EcosystemMatches(ecosystem, eco) {
			continue
		}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, db.byID[id])
			}
		}
	}
	slices.SortFunc(out, func(a, b *Record) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// IndexKeys returns the distinct package keys a record names, for indexing it.
func IndexKeys(r *Record) []PackageKey {
	var keys []PackageKey
	for _, a := range r.Affected {
		k := a.Package.Key()
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

package vuln

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	packageurl "github.com/anchore/packageurl-go"
)

// ErrNotMatchable is wrapped by [PackageFromPURL] when a package URL cannot be mapped to
// an OSV package whose versions can be ordered (an unknown type or distribution, a
// missing version or distro qualifier). Such packages are reported, not silently clean.
var ErrNotMatchable = errors.New("package not matchable")

// PackageKey names a package in the vulnerability database: an OSV ecosystem and the
// package name normalised with [NormalizeName]. Ecosystem may be a prefix of the records'
// ecosystems ending at a ':' ("Ubuntu:22.04" covers "Ubuntu:22.04:LTS"), see
// [EcosystemMatches].
type PackageKey struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

// PackageRef is a package mapped from a package URL: where to look it up and which
// version to compare.
type PackageRef struct {
	PackageKey
	Version string `json:"version"`
}

// EcosystemMatches reports whether a record's ecosystem is covered by a query ecosystem:
// equal, or the query followed by ':' and more ("Red Hat:enterprise_linux:9" covers
// "Red Hat:enterprise_linux:9::appstream").
func EcosystemMatches(query, record string) bool {
	return record == query || (strings.HasPrefix(record, query) && len(record) > len(query) && record[len(query)] == ':')
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// NormalizeName returns the form of a package name used to index and compare names in
// an ecosystem: PEP 503 for PyPI (lower case, runs of "-_." as "-"), lower case for the
// case-insensitive NuGet and Packagist, unchanged elsewhere.
func NormalizeName(ecosystem, name string) string {
	switch EcosystemBase(ecosystem) {
	case "PyPI":
		return pypiSeparators.ReplaceAllString(strings.ToLower(name), "-")
	case "NuGet", "Packagist":
		return strings.ToLower(name)
	}
	return name
}

// Key returns the normalised database key of an OSV package.
func (p Package) Key() PackageKey {
	return PackageKey{Ecosystem: p.Ecosystem, Name: NormalizeName(p.Ecosystem, p.Name)}
}

// PackageFromPURL maps a package URL (as syft writes them) to the OSV package to look
// up and the version to compare. Distribution packages are keyed as OSV keys them: Debian
// and Ubuntu by source package (the upstream qualifier) and release ("Debian:12" from
// distro=debian-12), Alpine by origin package and branch ("Alpine:v3.19"), RPM
// distributions by binary name and major release with the epoch qualifier folded into
// the version.
func PackageFromPURL(purl string) (PackageRef, error) {
	if len(purl) > MaxStringLength {
		return PackageRef{}, fmt.Errorf("%w: package URL of %d bytes exceeds %d", ErrNotMatchable, len(purl), MaxStringLength)
	}
	p, err := packageurl.FromString(purl)
	if err != nil {
		return PackageRef{}, fmt.Errorf("%w: parse package URL %q: %w", ErrNotMatchable, clip(purl), err)
	}
	if p.Version == "" {
		return PackageRef{}, fmt.Errorf("%w: package URL %q has no version", ErrNotMatchable, clip(purl))
	}
	q := p.Qualifiers.Map()
	ref := PackageRef{Version: p.Version}
	notMatchable := func(why string) (PackageRef, error) {
		return PackageRef{}, fmt.Errorf("%w: %s package URL %q: %s", ErrNotMatchable, p.Type, clip(purl), why)
	}
	switch p.Type {
	case packageurl.TypeDebian:
		distroID, release := splitDistro(q["distro"])
		if release == "" {
			return notMatchable("no distro qualifier naming the release")
		}
		switch strings.ToLower(p.Namespace) {
		case "debian":
			if distroID != "" && distroID != "debian" {
				return notMatchable(fmt.Sprintf("distro %q is not Debian", distroID))
			}
			major, _, _ := strings.Cut(release, ".")
			ref.Ecosystem = "Debian:" + major
		case "ubuntu":
			ref.Ecosystem = "Ubuntu:" + release
		default:
			return notMatchable(fmt.Sprintf("distribution %q has no OSV ecosystem", p.Namespace))
		}
		ref.Name = p.Name
		if up := q["upstream"]; up != "" {
			// syft writes upstream=SOURCE or upstream=SOURCE@SOURCEVERSION; OSV keys
			// Debian and Ubuntu records by source package and source version.
			src, srcVersion, _ := strings.Cut(up, "@")
			if src != "" {
				ref.Name = src
			}
			if srcVersion != "" {
				ref.Version = srcVersion
			}
		}
	case "apk":
		_, release := splitDistro(q["distro"])
		switch strings.ToLower(p.Namespace) {
		case "alpine":
			branch := majorMinor(release)
			if branch == "" {
				return notMatchable("no distro qualifier naming the Alpine release")
			}
			ref.Ecosystem = "Alpine:v" + branch
		case "wolfi":
			ref.Ecosystem = "Wolfi"
		case "chainguard":
			ref.Ecosystem = "Chainguard"
		default:
			return notMatchable(fmt.Sprintf("distribution %q has no OSV ecosystem", p.Namespace))
		}
		ref.Name = p.Name
		if up := q["upstream"]; up != "" {
			ref.Name = up // the origin package, by which OSV keys Alpine records
		}
	case packageurl.TypeRPM:
		_, release := splitDistro(q["distro"])
		major, _, _ := strings.Cut(release, ".")
		if major == "" {
			return notMatchable("no distro qualifier naming the release")
		}
		switch strings.ToLower(p.Namespace) {
		case "redhat":
			ref.Ecosystem = "Red Hat:enterprise_linux:" + major
		case "almalinux":
			ref.Ecosystem = "AlmaLinux:" + major
		case "rocky":
			ref.Ecosystem = "Rocky Linux:" + major
		default:
			return notMatchable(fmt.Sprintf("distribution %q has no OSV ecosystem", p.Namespace))
		}
		ref.Name = p.Name
		if e := q["epoch"]; e != "" && e != "0" && !strings.Contains(ref.Version, ":") {
			ref.Version = e + ":" + ref.Version
		}
	case packageurl.TypeGolang:
		ref.Ecosystem = "Go"
		if p.Namespace == "" && p.Name == "stdlib" {
			ref.Name = "stdlib"
			ref.Version = strings.TrimPrefix(ref.Version, "go")
		} else {
			ref.Name = joinNS(p.Namespace, p.Name, "/")
		}
	case packageurl.TypeNPM:
		ref.Ecosystem = "npm"
		ref.Name = joinNS(p.Namespace, p.Name, "/")
	case packageurl.TypePyPi:
		ref.Ecosystem = "PyPI"
		ref.Name = p.Name
	case packageurl.TypeMaven:
		if p.Namespace == "" {
			return notMatchable("no group id")
		}
		ref.Ecosystem = "Maven"
		ref.Name = p.Namespace + ":" + p.Name
	case packageurl.TypeCargo:
		ref.Ecosystem = "crates.io"
		ref.Name = p.Name
	case packageurl.TypeGem:
		ref.Ecosystem = "RubyGems"
		ref.Name = p.Name
	case packageurl.TypeNuget:
		ref.Ecosystem = "NuGet"
		ref.Name = p.Name
	case packageurl.TypeComposer:
		ref.Ecosystem = "Packagist"
		ref.Name = joinNS(p.Namespace, p.Name, "/")
	case packageurl.TypeHex:
		ref.Ecosystem = "Hex"
		ref.Name = p.Name
	case "pub":
		ref.Ecosystem = "Pub"
		ref.Name = p.Name
	default:
		return notMatchable("type has no OSV ecosystem")
	}
	ref.Name = NormalizeName(ref.Ecosystem, ref.Name)
	return ref, nil
}

func joinNS(ns, name, sep string) string {
	if ns == "" {
		return name
	}
	return ns + sep + name
}

// splitDistro splits syft's distro qualifier, "debian-12" or "ubuntu-22.04", into the
// distribution id and its release.
func splitDistro(d string) (id, release string) {
	i := strings.LastIndexByte(d, '-')
	if i < 0 {
		return "", d
	}
	return strings.ToLower(d[:i]), d[i+1:]
}

var majorMinorRE = regexp.MustCompile(`^(\d+\.\d+)`)

func majorMinor(release string) string {
	return majorMinorRE.FindString(release)
}

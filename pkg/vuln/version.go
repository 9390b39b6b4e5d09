package vuln

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// ErrUnsupportedEcosystem is returned when versions of an ecosystem cannot be ordered.
var ErrUnsupportedEcosystem = errors.New("unsupported ecosystem")

// Version is a parsed version that orders by its ecosystem's rules.
type Version struct {
	v   semantic.Version
	raw string
}

// String returns the version as written.
func (v Version) String() string { return v.raw }

// Compare returns -1, 0 or +1 as v is less than, equal to or greater than w. Both must
// come from the same ecosystem.
func (v Version) Compare(w Version) (int, error) {
	c, err := v.v.Compare(w.v)
	if err != nil {
		return 0, fmt.Errorf("compare %q with %q: %w", clip(v.raw), clip(w.raw), err)
	}
	return c, nil
}

// EcosystemBase returns the ecosystem without its release suffix:
// "Debian:12" → "Debian", "Alpine:v3.19" → "Alpine", "Red Hat:enterprise_linux:9" → "Red Hat".
func EcosystemBase(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base
}

// Supported reports whether versions of the ecosystem can be ordered.
func Supported(ecosystem string) bool {
	_, err := semantic.Parse("0", EcosystemBase(ecosystem))
	return !errors.Is(err, semantic.ErrUnsupportedEcosystem)
}

// ParseVersion parses a version with the ordering of an OSV ecosystem (the release
// suffix, "Debian:12", is ignored). The ordering is osv-scalibr's semantic package, the
// one osv-scanner uses: dpkg rules for Debian and Ubuntu (epochs, tildes, revisions),
// apk rules for Alpine, Wolfi and Chainguard, rpmvercmp for Red Hat, AlmaLinux, Rocky
// Linux, openSUSE and SUSE, PEP 440 for PyPI, Maven's ComparableVersion, NuGet, RubyGems
// and Packagist rules, and semver for Go, npm, crates.io and the rest.
func ParseVersion(ecosystem, version string) (Version, error) {
	if version == "" {
		return Version{}, errors.New("parse version: empty")
	}
	if len(version) > MaxVersionLength {
		return Version{}, fmt.Errorf("parse version: %d bytes exceeds %d", len(version), MaxVersionLength)
	}
	v, err := semantic.Parse(version, EcosystemBase(ecosystem))
	if err != nil {
		if errors.Is(err, semantic.ErrUnsupportedEcosystem) {
			return Version{}, fmt.Errorf("parse version %q: %w %q", clip(version), ErrUnsupportedEcosystem, clip(ecosystem))
		}
		return Version{}, fmt.Errorf("parse %s version %q: %w", clip(ecosystem), clip(version), err)
	}
	return Version{v: v, raw: version}, nil
}

// semverVersion parses a version of a SEMVER range, whatever the ecosystem.
func semverVersion(version string) (Version, error) {
	if len(version) > MaxVersionLength {
		return Version{}, fmt.Errorf("parse version: %d bytes exceeds %d", len(version), MaxVersionLength)
	}
	return Version{v: semantic.ParseSemverVersion(version), raw: version}, nil
}

// CompareVersions orders two versions of one ecosystem.
func CompareVersions(ecosystem, a, b string) (int, error) {
	va, err := ParseVersion(ecosystem, a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseVersion(ecosystem, b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb)
}

package vuln

import (
	"errors"
	"testing"
)

func TestVersionOrdering(t *testing.T) {
	tests := []struct {
		eco  string
		a, b string
		want int // sign of compare(a, b)
	}{
		// Debian: epochs, tildes, revisions.
		{"Debian:12", "1:1.0", "2.0", 1},
		{"Debian:12", "1.0~rc1", "1.0", -1},
		{"Debian:12", "1.0~~", "1.0~", -1},
		{"Debian:12", "1.0-1", "1.0-1+deb12u1", -1},
		{"Debian:12", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", -1},
		{"Debian:12", "3.0.11-1~deb12u2", "3.0.11-1", -1},
		{"Debian:12", "1.0", "1.0-0", 0},
		{"Debian:12", "0:1.0", "1.0", 0},
		{"Debian:12", "1.10", "1.9", 1},
		{"Ubuntu:22.04", "1.2.3-0ubuntu1", "1.2.3-0ubuntu1.1", -1},
		// Alpine (apk).
		{"Alpine:v3.19", "1.2.3-r0", "1.2.3-r1", -1},
		{"Alpine:v3.19", "1.2.3_rc1-r0", "1.2.3-r0", -1},
		{"Alpine:v3.19", "1.2.3_p1-r0", "1.2.3-r0", 1},
		{"Alpine:v3.19", "3.1.4-r5", "3.1.10-r0", -1},
		// RPM distributions.
		{"Red Hat:enterprise_linux:9", "1:3.0.7-27.el9", "3.0.7-28.el9", 1},
		{"AlmaLinux:9", "3.0.7-24.el9", "3.0.7-27.el9", -1},
		{"Rocky Linux:9", "3.0.7-27.el9_4", "3.0.7-27.el9", 1},
		{"Rocky Linux:9", "1.0~rc1-1.el9", "1.0-1.el9", -1},
		// Go: semver with a leading v, pseudo-versions.
		{"Go", "v1.2.3", "1.2.4", -1},
		{"Go", "v0.0.0-20230101000000-abcdefabcdef", "v0.0.1", -1},
		{"Go", "v1.2.4-0.20230101000000-abcdefabcdef", "v1.2.3", 1},
		{"Go", "v1.2.4-0.20230101000000-abcdefabcdef", "v1.2.4", -1},
		{"Go", "1.22.0-0", "1.22.0", -1},
		// npm and crates.io: semver prereleases.
		{"npm", "1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"npm", "1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"npm", "1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"npm", "1.0.0-rc.1", "1.0.0", -1},
		{"crates.io", "0.10.0", "0.9.9", 1},
		// PyPI: PEP 440.
		{"PyPI", "1.0rc1", "1.0", -1},
		{"PyPI", "1.0", "1.0.post1", -1},
		{"PyPI", "1.0.dev1", "1.0a1", -1},
		{"PyPI", "1!0.1", "2.0", 1},
		{"PyPI", "1.0", "1.0.0", 0},
		{"PyPI", "1.0+local.1", "1.0", 1},
		// Maven.
		{"Maven", "1.0-SNAPSHOT", "1.0", -1},
		{"Maven", "1.0-alpha", "1.0-beta", -1},
		{"Maven", "1.0-alpha", "1.0", -1},
		{"Maven", "1.0", "1.0.0", 0},
		{"Maven", "1.0-rc1", "1.0-SNAPSHOT", -1},
		{"Maven", "2.17.1", "2.3", 1},
		// RubyGems, NuGet, Packagist.
		{"RubyGems", "1.0.0.pre", "1.0.0", -1},
		{"RubyGems", "1.10", "1.9", 1},
		{"NuGet", "1.0.0-beta", "1.0.0", -1},
		{"NuGet", "1.0.0.0", "1.0.0", 0},
		{"Packagist", "1.0.0-beta", "1.0.0", -1},
		{"Packagist", "v2.0.0", "1.9.9", 1},
	}
	for _, tc := range tests {
		t.Run(tc.eco+"/"+tc.a+"_"+tc.b, func(t *testing.T) {
			got, err := CompareVersions(tc.eco, tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("compare(%q, %q) in %s = %d, want %d", tc.a, tc.b, tc.eco, got, tc.want)
			}
			// Antisymmetry.
			rev, err := CompareVersions(tc.eco, tc.b, tc.a)
			if err != nil {
				t.Fatal(err)
			}
			if rev != -tc.want {
				t.Errorf("compare(%q, %q) in %s = %d, want %d", tc.b, tc.a, tc.eco, rev, -tc.want)
			}
		})
	}
}

func TestParseVersionErrors(t *testing.T) {
	if _, err := ParseVersion("NoSuchEcosystem", "1.0"); !errors.Is(err, ErrUnsupportedEcosystem) {
		t.Errorf("unknown ecosystem: err = %v, want ErrUnsupportedEcosystem", err)
	}
	if Supported("NoSuchEcosystem") || !Supported("Debian:12") {
		t.Error("Supported: wrong answer")
	}
	if _, err := ParseVersion("Debian:12", ""); err == nil {
		t.Error("empty version: want an error")
	}
	long := make([]byte, MaxVersionLength+1)
	for i := range long {
		long[i] = '1'
	}
	if _, err := ParseVersion("npm", string(long)); err == nil {
		t.Error("overlong version: want an error")
	}
}

package vuln

import (
	"errors"
	"testing"
)

func TestPackageFromPURL(t *testing.T) {
	tests := []struct {
		purl string
		want PackageRef
	}{
		// Debian: keyed by source package (syft's upstream qualifier) and release.
		{"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
			PackageRef{PackageKey{"Debian:12", "openssl"}, "3.0.11-1~deb12u2"}},
		{"pkg:deb/debian/libc6@2.36-9+deb12u4?arch=arm64&distro=debian-12.5&upstream=glibc%402.36-9%2Bdeb12u3",
			PackageRef{PackageKey{"Debian:12", "glibc"}, "2.36-9+deb12u3"}},
		{"pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64&distro=debian-12",
			PackageRef{PackageKey{"Debian:12", "bash"}, "5.2.15-2+b2"}},
		{"pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.15?arch=amd64&distro=ubuntu-22.04&upstream=openssl",
			PackageRef{PackageKey{"Ubuntu:22.04", "openssl"}, "3.0.2-0ubuntu1.15"}},
		// Alpine: origin package, branch from the release.
		{"pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl",
			PackageRef{PackageKey{"Alpine:v3.19", "openssl"}, "3.1.4-r5"}},
		{"pkg:apk/wolfi/glibc@2.39-r1?arch=x86_64&distro=wolfi-20230201",
			PackageRef{PackageKey{"Wolfi", "glibc"}, "2.39-r1"}},
		// RPM: epoch folded into the version.
		{"pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1&upstream=openssl-3.0.7-27.el9.src.rpm",
			PackageRef{PackageKey{"Red Hat:enterprise_linux:9", "openssl-libs"}, "1:3.0.7-27.el9"}},
		{"pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9.4",
			PackageRef{PackageKey{"Rocky Linux:9", "bash"}, "5.1.8-9.el9"}},
		{"pkg:rpm/almalinux/bash@5.1.8-9.el9?distro=almalinux-9.4&epoch=0",
			PackageRef{PackageKey{"AlmaLinux:9", "bash"}, "5.1.8-9.el9"}},
		// Language ecosystems.
		{"pkg:golang/golang.org/x/net@v0.22.0", PackageRef{PackageKey{"Go", "golang.org/x/net"}, "v0.22.0"}},
		{"pkg:golang/stdlib@go1.22.1", PackageRef{PackageKey{"Go", "stdlib"}, "1.22.1"}},
		{"pkg:npm/%40babel/traverse@7.23.0", PackageRef{PackageKey{"npm", "@babel/traverse"}, "7.23.0"}},
		{"pkg:npm/lodash@4.17.20", PackageRef{PackageKey{"npm", "lodash"}, "4.17.20"}},
		{"pkg:pypi/Jinja2@3.1.2", PackageRef{PackageKey{"PyPI", "jinja2"}, "3.1.2"}},
		{"pkg:pypi/typing_extensions@4.9.0", PackageRef{PackageKey{"PyPI", "typing-extensions"}, "4.9.0"}},
		{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", PackageRef{PackageKey{"Maven", "org.apache.logging.log4j:log4j-core"}, "2.14.1"}},
		{"pkg:cargo/smallvec@1.6.0", PackageRef{PackageKey{"crates.io", "smallvec"}, "1.6.0"}},
		{"pkg:gem/rack@2.2.3", PackageRef{PackageKey{"RubyGems", "rack"}, "2.2.3"}},
		{"pkg:nuget/Newtonsoft.Json@12.0.1", PackageRef{PackageKey{"NuGet", "newtonsoft.json"}, "12.0.1"}},
		{"pkg:composer/guzzlehttp/guzzle@7.4.1", PackageRef{PackageKey{"Packagist", "guzzlehttp/guzzle"}, "7.4.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.purl, func(t *testing.T) {
			got, err := PackageFromPURL(tc.purl)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPackageFromPURLNotMatchable(t *testing.T) {
	for _, purl := range []string{
		"pkg:deb/debian/bash@5.2.15-2",                  // no distro: the release is unknown
		"pkg:deb/kali/bash@5.2.15-2?distro=kali-2024.1", // no OSV ecosystem
		"pkg:apk/alpine/musl@1.2.4-r2",                  // no distro
		"pkg:rpm/centos/bash@4.2.46-35.el7?distro=centos-7",
		"pkg:generic/openssl@3.0.0",
		"pkg:npm/lodash", // no version
		"not a purl",
		"pkg:maven/log4j-core@2.14.1", // no group
	} {
		t.Run(purl, func(t *testing.T) {
			if _, err := PackageFromPURL(purl); !errors.Is(err, ErrNotMatchable) {
				t.Errorf("err = %v, want ErrNotMatchable", err)
			}
		})
	}
}

func TestEcosystemMatches(t *testing.T) {
	tests := []struct {
		q, rec string
		want   bool
	}{
		{"Debian:12", "Debian:12", true},
		{"Debian:12", "Debian:13", false},
		{"Debian:1", "Debian:12", false},
		{"Ubuntu:22.04", "Ubuntu:22.04:LTS", true},
		{"Red Hat:enterprise_linux:9", "Red Hat:enterprise_linux:9::appstream", true},
		{"Red Hat:enterprise_linux:9", "Red Hat:enterprise_linux:8::appstream", false},
		{"PyPI", "PyPI", true},
		{"npm", "npm2", false},
	}
	for _, tc := range tests {
		if got := EcosystemMatches(tc.q, tc.rec); got != tc.want {
			t.Errorf("EcosystemMatches(%q, %q) = %v, want %v", tc.q, tc.rec, got, tc.want)
		}
	}
}

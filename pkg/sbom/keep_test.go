package sbom

import (
	"testing"
)

// The keep set is what syft's image cataloguers ask for: it keeps their inputs and drops
// the bulk of an image.
func TestKeepSetFollowsCataloguerQueries(t *testing.T) {
	cat, err := NewCataloguer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.licenseContext(); err != nil {
		t.Fatal(err)
	}
	k := cat.keep
	t.Logf("recorded %d paths, %d base names, %d suffixes, %d base globs, %d literal-base globs, %d other globs, MIME types %v",
		len(k.paths), len(k.bases), len(k.suffixes), len(k.baseGlobs), len(k.byBase), len(k.generic), k.mimes)
	elf := []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00")
	for _, tc := range []struct {
		path string
		head []byte
		want bool
	}{
		{"/var/lib/dpkg/status", nil, true},
		{"/var/lib/dpkg/status.d/tzdata", nil, true},
		{"/var/lib/dpkg/info/bash.md5sums", nil, true},
		{"/usr/share/doc/bash/copyright", nil, true},
		{"/lib/apk/db/installed", nil, true},
		{"/var/lib/rpm/rpmdb.sqlite", nil, true},
		{"/etc/os-release", nil, true},
		{"/usr/lib/os-release", nil, true},
		{"/app/node_modules/lodash/package.json", nil, true},
		{"/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", nil, true},
		{"/opt/app/lib/guava-33.0.jar", nil, true},
		{"/usr/local/bundle/specifications/rake-13.0.6.gemspec", nil, true},
		{"/srv/vendor/composer/installed.json", nil, true},
		{"/app/MyApp.deps.json", nil, true},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", elf, true},
		{"/usr/local/bin/app", elf, true},
		{"/usr/share/man/man1/ls.1.gz", nil, false},
		{"/usr/share/zoneinfo/Europe/Paris", []byte("TZif2"), false},
		{"/srv/data/blob.bin", []byte{0, 1, 2, 3}, false},
		{"/usr/share/locale/de/LC_MESSAGES/coreutils.mo", nil, false},
	} {
		if got := k.keep(tc.path, 100, tc.head); got != tc.want {
			t.Errorf("keep(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestRequiredLiteral(t *testing.T) {
	for pattern, want := range map[string]string{
		"**/var/lib/dpkg/info/*": "/var/lib/dpkg/info/",
		"**/{var/lib,usr/share,usr/lib/sysimage}/rpm/{Packages,Packages.db,rpmdb.sqlite}": "/rpm/",
		"LICENSE*":                   "LICENSE",
		"libstd-????????????????.so": "libstd-",
		"**/lib/modules/**/*.ko.zst": "/lib/modules/",
		"**/*.dist-info/[A-Z]*":      ".dist-info/",
		"{go,go.exe}":                "",
	} {
		got := requiredLiteral(pattern)
		if got != want {
			t.Errorf("requiredLiteral(%q) = %q, want %q", pattern, got, want)
		}
	}
}

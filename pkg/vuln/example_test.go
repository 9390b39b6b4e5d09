package vuln_test

import (
	"context"
	"fmt"
	"log"

	"github.com/custody-dev/custody/pkg/vuln"
)

func Example() {
	// Load OSV records from a directory (or OSV's per-ecosystem all.zip).
	db, err := vuln.LoadDB("testdata/osv")
	if err != nil {
		log.Fatal(err)
	}
	// Match packages, as syft names them, against the records.
	rep, err := vuln.Match(context.Background(), db, []vuln.ScanPackage{
		{PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"},
		{PURL: "pkg:pypi/jinja2@3.1.3"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range rep.Findings {
		fmt.Println(f.ID, f.Name, f.Version, "fixed in", f.Fixed, f.Severity.Rating)
	}
	// Output:
	// DEBIAN-CVE-2024-2511 openssl 3.0.11-1~deb12u1 fixed in [3.0.14-1~deb12u1] medium
	// DSA-5532-1 openssl 3.0.11-1~deb12u1 fixed in [3.0.11-1~deb12u2] unknown
}

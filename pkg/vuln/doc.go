// Package vuln matches software packages against known vulnerabilities published as OSV
// records (https://ossf.github.io/osv-schema/).
//
// It parses and bounds OSV records ([Parse]), loads them from a directory or from the zip
// OSV publishes per ecosystem ([Load]), maps package URLs to OSV packages ([PackageFromPURL]),
// compares versions with each ecosystem's own ordering (Debian epochs and tildes, Alpine,
// RPM, PEP 440, Maven, semver, …; through osv-scalibr's semantic package), matches packages
// against a [Source] of records ([Match]), applies OpenVEX statements to the findings
// ([ParseVEX], [ApplyVEX]) and turns a [Report] into an in-toto vulns v0.2 predicate
// ([NewPredicate], [ParsePredicate]).
//
// It is not a vulnerability database: records come from a [Source] (an in-memory [DB]
// built with [Load], or the ledger's API through [NewHTTPSource]). It does not fetch OSV
// data from the network, does not scan images (see pkg/sbom and the scanner service) and
// does not decide whether findings are acceptable (that is the gate's policy).
package vuln

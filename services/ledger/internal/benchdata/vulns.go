package benchdata

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
)

// The vulnerability database of the generated ledger: synthetic OSV records (ids in the
// year 2099, so they cannot be taken for real ones) for the catalog's packages.

// Headline is the vulnerability the affected-by figures ask about: Debian's record of
// it (DEBIAN-CVE-2099-1001, upstream CVE-2099-1001) affects openssl before the version
// of the third snapshot, so it matches the artifacts built on the first two snapshots
// (7% by their weights).
const (
	Headline       = "CVE-2099-1001"
	headlineRecord = "DEBIAN-CVE-2099-1001"
	headlineFixed  = 2 // index into opensslVersions
)

// HeadlineRange is the same set of artifacts asked for by version range: Debian's
// openssl before the fixed version.
var HeadlineRange = "<" + opensslVersions[headlineFixed]

// vulnRecords builds the records: the headline; for each Debian source package one
// record fixed in a later snapshot's version (or, for packages Debian never updated, a
// few left unfixed, as its tracker's "no DSA" entries are); and for each application
// package with several versions a GitHub-style advisory fixed in a later version.
func vulnRecords(seed uint64, modified time.Time) ([]*vuln.Record, error) {
	rng := rand.New(rand.NewPCG(seed, 0x766c6e))
	var recs []*vuln.Record
	debian := func(id, source string, fixed string, summary string) {
		r := &vuln.Record{
			SchemaVersion: "1.6.0", ID: id, Modified: modified, Upstream: []string{id[len("DEBIAN-"):]},
			Summary: summary,
			Affected: []vuln.Affected{{
				Package: vuln.Package{Ecosystem: "Debian:12", Name: source, PURL: "pkg:deb/debian/" + source + "?arch=source"},
				Ranges:  []vuln.Range{{Type: vuln.RangeEcosystem, Events: rangeEvents(fixed)}},
			}},
			References: []vuln.Reference{{Type: "ADVISORY", URL: "https://security-tracker.debian.org/tracker/" + id[len("DEBIAN-"):]}},
		}
		recs = append(recs, r)
	}
	debian(headlineRecord, "openssl", opensslVersions[headlineFixed],
		"openssl: synthetic vulnerability of the auditors' benchmark (matches the artifacts of the first two snapshots)")

	n := 2000
	sources := map[string][]string{} // source -> versions by snapshot
	var order []string
	for _, group := range [][]debPackage{debBase, debNetwork, debPython} {
		for _, p := range group {
			src := p.source()
			if _, ok := sources[src]; ok {
				continue
			}
			order = append(order, src)
			for s := range snapshots {
				sources[src] = append(sources[src], p.version(s))
			}
		}
	}
	for _, src := range order {
		versions := slices.Compact(slices.Clone(sources[src]))
		n++
		id := fmt.Sprintf("DEBIAN-CVE-2099-%04d", n)
		switch {
		case len(versions) > 1:
			debian(id, src, versions[1+rng.IntN(len(versions)-1)], src+": synthetic vulnerability, fixed in a point release")
		case rng.IntN(5) == 0:
			debian(id, src, "", src+": synthetic vulnerability, not fixed in Debian 12")
		default:
			n--
		}
	}

	ecosystems := map[string]string{"pypi": "PyPI", "npm": "npm", "golang": "Go"}
	g := 5000
	for _, st := range stacks {
		for _, p := range st.Packages {
			if len(p.Versions) < 2 {
				continue
			}
			g++
			name := p.Name
			if p.Namespace != "" {
				name = p.Namespace + "/" + p.Name
			}
			fixed := p.Versions[1+rng.IntN(len(p.Versions)-1)]
			rangeType := vuln.RangeEcosystem
			if st.Type != "pypi" {
				rangeType = vuln.RangeSemver
			}
			if st.Type == "golang" {
				fixed = strings.TrimPrefix(fixed, "v") // OSV's Go ranges are semver without the "v"
			}
			recs = append(recs, &vuln.Record{
				SchemaVersion: "1.6.0", ID: ghsaID(rng), Modified: modified, Aliases: []string{fmt.Sprintf("CVE-2099-%04d", g)},
				Summary: name + ": synthetic advisory of the auditors' benchmark",
				Affected: []vuln.Affected{{
					Package: vuln.Package{Ecosystem: ecosystems[st.Type], Name: name},
					Ranges:  []vuln.Range{{Type: rangeType, Events: rangeEvents(fixed)}},
				}},
			})
		}
	}
	return recs, nil
}

// rangeEvents is an OSV range from the start, fixed in fixed ("" leaves it unfixed).
func rangeEvents(fixed string) []vuln.Event {
	ev := []vuln.Event{{Introduced: "0"}}
	if fixed != "" {
		ev = append(ev, vuln.Event{Fixed: fixed})
	}
	return ev
}

// ghsaID returns an id shaped like GitHub's advisories (GHSA-xxxx-xxxx-xxxx).
func ghsaID(rng *rand.Rand) string {
	const alphabet = "23456789cfghjmpqrvwx"
	b := []byte("GHSA-xxxx-xxxx-xxxx")
	for i := range b {
		if b[i] == 'x' {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
	}
	return string(b)
}

// storedRecords turns records into what the ledger stores, as its import does: the raw
// JSON (parsed back, so that a record the ledger would refuse fails here), the package
// keys and the aliases and upstream ids.
func storedRecords(recs []*vuln.Record) ([]ledger.VulnRecord, error) {
	out := make([]ledger.VulnRecord, 0, len(recs))
	for _, r := range recs {
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", r.ID, err)
		}
		parsed, err := vuln.Parse(raw)
		if err != nil {
			return nil, err
		}
		vr := ledger.VulnRecord{ID: parsed.ID, Modified: parsed.Modified, Raw: raw,
			Aliases: append(slices.Clone(parsed.Aliases), parsed.Upstream...)}
		for _, k := range vuln.IndexKeys(parsed) {
			vr.Packages = append(vr.Packages, ledger.VulnPackage{Ecosystem: k.Ecosystem, Name: k.Name})
		}
		out = append(out, vr)
	}
	return out, nil
}

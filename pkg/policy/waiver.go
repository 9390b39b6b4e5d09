package policy

import (
	"fmt"
	"strings"
	"time"

	packageurl "github.com/anchore/packageurl-go"

	"github.com/custody-dev/custody/pkg/vuln"
)

// Waiver accepts one vulnerability, in one package or in every package, until it
// expires. It is part of the policy document (spec.waivers), so the policy digest
// covers it.
type Waiver struct {
	// ID is a vulnerability id or alias (CVE-2024-1234, GHSA-…); it matches a finding
	// whose id or any alias equals it, ignoring case.
	ID string `json:"id"`
	// Package, when set, is a package URL without version: the waiver applies only to
	// findings in that package (same type, namespace and name, and its qualifiers).
	Package string `json:"package,omitempty"`
	// Owner answers for the waiver.
	Owner string `json:"owner"`
	// Expires ends the waiver; from then on it does nothing.
	Expires time.Time `json:"expires"`
	Reason  string    `json:"reason"`

	purl *packageurl.PackageURL
}

// expiredAt reports whether the waiver no longer applies at now.
func (w *Waiver) expiredAt(now time.Time) bool { return !now.Before(w.Expires) }

func (w *Waiver) matches(f *Vuln) bool {
	if !strings.EqualFold(w.ID, f.ID) {
		found := false
		for _, a := range f.Aliases {
			if strings.EqualFold(w.ID, a) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if w.purl == nil {
		return true
	}
	p, err := packageurl.FromString(f.Package)
	if err != nil {
		return false
	}
	if p.Type != w.purl.Type || p.Namespace != w.purl.Namespace || p.Name != w.purl.Name || p.Subpath != w.purl.Subpath {
		return false
	}
	have := p.Qualifiers.Map()
	for k, v := range w.purl.Qualifiers.Map() {
		if have[k] != v {
			return false
		}
	}
	return true
}

// vexEntry is one spec.vex document with its owner and expiry.
type vexEntry struct {
	owner   string
	expires time.Time
	doc     *vuln.VEXDocument
	// names are the lowercased vulnerability names and aliases its statements mention.
	names map[string]bool
}

func newVEXEntry(owner string, expires time.Time, doc *vuln.VEXDocument) vexEntry {
	e := vexEntry{owner: owner, expires: expires, doc: doc, names: map[string]bool{}}
	for _, s := range doc.Statements {
		e.names[strings.ToLower(s.Vulnerability.Name)] = true
		for _, a := range s.Vulnerability.Aliases {
			e.names[strings.ToLower(a)] = true
		}
	}
	return e
}

func (e *vexEntry) mentions(f *Vuln) bool {
	if e.names[strings.ToLower(f.ID)] {
		return true
	}
	for _, a := range f.Aliases {
		if e.names[strings.ToLower(a)] {
			return true
		}
	}
	return false
}

// waiverOutcome is what the policy's waivers and VEX did to one predicate's findings.
type waiverOutcome struct {
	active     []Vuln
	waivedInfo []WaivedVuln
	// expiries are the expiry times of waivers and VEX documents, in force at now, that
	// bear on some finding: when one passes, the facts may change.
	expiries []time.Time
	// expired describes expired waivers and VEX documents that would have applied.
	expired []string
}

const maxExpiredNotes = 5

// applyWaivers splits findings into active and waived ones at now. VEX documents come
// first (OpenVEX's own rules pick the statement: the latest applying one wins), then
// waivers. subject is the image digest, which VEX products may name.
func (p *Policy) applyWaivers(findings []Vuln, subject string, now time.Time) waiverOutcome {
	var out waiverOutcome
	if len(p.waivers) == 0 && len(p.vex) == 0 {
		out.active = findings
		return out
	}
	var live, dead []*vuln.VEXDocument
	entryOf := map[string]*vexEntry{}
	for i := range p.vex {
		e := &p.vex[i]
		entryOf[e.doc.ID] = e
		if now.Before(e.expires) {
			live = append(live, e.doc)
		} else {
			dead = append(dead, e.doc)
		}
	}
	notes := map[string]bool{}
	note := func(s string) {
		if !notes[s] && len(notes) < maxExpiredNotes {
			notes[s] = true
			out.expired = append(out.expired, s)
		}
	}
	expiries := map[time.Time]bool{}
	for i := range findings {
		f := &findings[i]
		var mentioned []*vexEntry
		for j := range p.vex {
			if p.vex[j].mentions(f) {
				mentioned = append(mentioned, &p.vex[j])
			}
		}
		if len(mentioned) > 0 {
			for _, e := range mentioned {
				if now.Before(e.expires) {
					expiries[e.expires] = true
				}
			}
			if st, e := vexStatus(f, subject, live, entryOf); e != nil {
				out.waivedInfo = append(out.waivedInfo, WaivedVuln{Vuln: *f, By: "vex", Owner: e.owner, Expires: e.expires,
					Reason: fmt.Sprintf("VEX %s: %s", clip(e.doc.ID), st)})
				continue
			}
			if _, e := vexStatus(f, subject, dead, entryOf); e != nil {
				note(fmt.Sprintf("VEX document %s (owner %s) expired at %s and no longer covers %s",
					clip(e.doc.ID), clip(e.owner), e.expires.UTC().Format(time.RFC3339), clip(f.ID)))
			}
		}
		var waiver *Waiver
		for j := range p.waivers {
			w := &p.waivers[j]
			if !w.matches(f) {
				continue
			}
			if w.expiredAt(now) {
				note(fmt.Sprintf("waiver of %s%s (owner %s) expired at %s", clip(w.ID), inPackage(w.Package), clip(w.Owner),
					w.Expires.UTC().Format(time.RFC3339)))
				continue
			}
			expiries[w.Expires] = true
			if waiver == nil || w.Expires.After(waiver.Expires) {
				waiver = w
			}
		}
		if waiver != nil {
			out.waivedInfo = append(out.waivedInfo, WaivedVuln{Vuln: *f, By: "waiver", Owner: waiver.Owner,
				Expires: waiver.Expires, Reason: waiver.Reason})
			continue
		}
		out.active = append(out.active, *f)
	}
	for t := range expiries {
		out.expiries = append(out.expiries, t)
	}
	return out
}

// vexStatus applies docs to one finding with package vuln's rules and returns the
// status and the entry of the statement that marked it not_affected or fixed, or nil.
func vexStatus(f *Vuln, subject string, docs []*vuln.VEXDocument, entryOf map[string]*vexEntry) (string, *vexEntry) {
	if len(docs) == 0 {
		return "", nil
	}
	rep := vuln.Report{Findings: []vuln.Finding{{ID: f.ID, Aliases: f.Aliases, PURL: f.Package, Status: vuln.StatusAffected}}}
	vuln.ApplyVEX(&rep, vuln.Subject{Digest: subject}, docs...)
	got := rep.Findings[0]
	if got.VEX == nil || (got.Status != vuln.StatusNotAffected && got.Status != vuln.StatusFixed) {
		return "", nil
	}
	e := entryOf[got.VEX.Document]
	if e == nil {
		return "", nil
	}
	why := got.Status
	if got.VEX.Justification != "" {
		why += " (" + got.VEX.Justification + ")"
	}
	return why, e
}

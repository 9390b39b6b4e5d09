package policy

import (
	"fmt"
	"time"
)

// LintSeverity grades a LintFinding.
type LintSeverity string

// Lint severities. Errors are Parse's: a policy with one does not load.
const (
	// LintWarning: probably a mistake, or a gap an attacker could use.
	LintWarning LintSeverity = "warning"
	// LintInfo: a deliberate-looking choice worth knowing about.
	LintInfo LintSeverity = "info"
)

// WaiverExpiryWarning is how soon before a waiver or VEX document expires Lint warns.
const WaiverExpiryWarning = 14 * 24 * time.Hour

// LintFinding is one remark about a valid policy.
type LintFinding struct {
	Severity LintSeverity `json:"severity"`
	// Path locates it in the document, such as spec.requirements[1].
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Lint returns remarks about a policy Parse accepted, judged at the policy's clock (see
// WithClock): requirements any trusted key satisfies, destinations that match every
// repository, advisory requirements, vulnerability scans without maxAge, conditions that
// never read the statement, waivers and VEX documents that expire soon or have expired.
func Lint(p *Policy) []LintFinding {
	var out []LintFinding
	add := func(sev LintSeverity, path, format string, args ...any) {
		out = append(out, LintFinding{Severity: sev, Path: path, Message: fmt.Sprintf(format, args...)})
	}
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}
	for i, d := range p.destinations {
		if d.score.bounded == 0 {
			add(LintInfo, fmt.Sprintf("spec.destinations[%d]", i),
				"%q matches every repository; more specific policies beside it take precedence", d.raw)
		}
	}
	if len(p.authorities) == 0 {
		add(LintInfo, "spec.authorities",
			"none declared: a signature by any key the gate trusts counts for every requirement; declare authorities to say whose counts for what")
	}
	for i, r := range p.requirements {
		at := fmt.Sprintf("spec.requirements[%d]", i)
		if !r.Required {
			add(LintInfo, at, "%s is advisory (required: false): it is evaluated and reported, and never denies", r.Name)
		}
		if r.Threshold > 1 && r.keys == nil {
			add(LintWarning, at, "%s: threshold %d counts any %d keys the gate trusts; name authorities to say which", r.Name, r.Threshold, r.Threshold)
		}
		if r.PredicateType == PredicateVulnsV02 && r.Required && r.MaxAge == 0 {
			add(LintWarning, at, "%s checks a vulnerability scan without maxAge: a scan from long ago, before newer vulnerabilities were known, satisfies it; set maxAge (for example 168h)", r.Name)
		}
		switch {
		case r.cond == nil:
			add(LintInfo, at, "%s has no condition: any attestation of type %s from an allowed key satisfies it", r.Name, r.PredicateType)
		case !r.cond.readsContent():
			add(LintWarning, at, "%s: the condition never reads the statement (predicate, statement, vulns, waivedVulns, licenses or secrets), so it does not check what was attested", r.Name)
		}
	}
	for i, w := range p.waivers {
		lintExpiry(add, fmt.Sprintf("spec.waivers[%d]", i), fmt.Sprintf("waiver of %s%s (owner %s)", w.ID, inPackage(w.Package), w.Owner), w.Expires, now)
	}
	for i, v := range p.vex {
		lintExpiry(add, fmt.Sprintf("spec.vex[%d]", i), fmt.Sprintf("VEX document %s (owner %s)", clip(v.doc.ID), v.owner), v.expires, now)
	}
	return out
}

func lintExpiry(add func(LintSeverity, string, string, ...any), path, what string, expires, now time.Time) {
	switch {
	case !now.Before(expires):
		add(LintWarning, path, "%s expired at %s and does nothing; remove or renew it", what, stamp(expires))
	case expires.Sub(now) <= WaiverExpiryWarning:
		add(LintWarning, path, "%s expires at %s, within %d days; renew it or fix what it waives", what, stamp(expires), int(WaiverExpiryWarning.Hours()/24))
	}
}

package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	packageurl "github.com/anchore/packageurl-go"

	"github.com/custody-dev/custody/pkg/vuln"
)

// The YAML document as written. Every field added after the first release is optional
// and defaults to the behaviour policies had before it existed.

type metadata struct {
	Name string `json:"name"`
}

type requirementDoc struct {
	Name          string   `json:"name"`
	PredicateType string   `json:"predicateType"`
	Condition     string   `json:"condition,omitempty"`
	Authorities   []string `json:"authorities,omitempty"`
	// Required is true unless written false.
	Required *bool `json:"required,omitempty"`
	// Threshold is 1 unless written.
	Threshold *int   `json:"threshold,omitempty"`
	MaxAge    string `json:"maxAge,omitempty"`
}

type waiverDoc struct {
	ID      string `json:"id"`
	Package string `json:"package,omitempty"`
	Owner   string `json:"owner"`
	Expires string `json:"expires"`
	Reason  string `json:"reason"`
}

type vexDoc struct {
	Owner    string `json:"owner"`
	Expires  string `json:"expires"`
	Document string `json:"document"`
}

type spec struct {
	Destinations []string         `json:"destinations"`
	Authorities  []Authority      `json:"authorities,omitempty"`
	Requirements []requirementDoc `json:"requirements"`
	Waivers      []waiverDoc      `json:"waivers,omitempty"`
	VEX          []vexDoc         `json:"vex,omitempty"`
}

type document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       spec     `json:"spec"`
}

// validated is what validate derives from a document besides errors.
type validated struct {
	requirements []Requirement
	waivers      []Waiver
	vex          []vexEntry
}

// validate checks d at time now (waiver expiries are bounded relative to it) and
// resolves defaults.
func (d *document) validate(now time.Time) (validated, error) {
	var (
		errs []error
		out  validated
	)
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.APIVersion != APIVersion {
		bad("apiVersion %q: want %q", d.APIVersion, APIVersion)
	}
	if d.Kind != Kind {
		bad("kind %q: want %q", d.Kind, Kind)
	}
	if !nameRE.MatchString(d.Metadata.Name) {
		bad("metadata.name %q: use 1-63 lowercase letters, digits, '-' or '.'", d.Metadata.Name)
	}
	s := d.Spec
	switch {
	case len(s.Destinations) == 0:
		bad("spec.destinations: name at least one destination pattern (\"**\" matches every repository)")
	case len(s.Destinations) > maxDestinations:
		bad("spec.destinations: %d patterns exceed the limit of %d", len(s.Destinations), maxDestinations)
	}
	for i, dst := range s.Destinations {
		if err := validatePattern(dst); err != nil {
			bad("spec.destinations[%d] %q: %w", i, dst, err)
		}
	}
	if len(s.Authorities) > maxAuthorities {
		bad("spec.authorities: %d exceed the limit of %d", len(s.Authorities), maxAuthorities)
	}
	authKeys := map[string]int{}
	for i, a := range s.Authorities {
		if !nameRE.MatchString(a.Name) {
			bad("spec.authorities[%d].name %q: use 1-63 lowercase letters, digits, '-' or '.'", i, a.Name)
		}
		if _, dup := authKeys[a.Name]; dup {
			bad("spec.authorities[%d].name %q: duplicate", i, a.Name)
		}
		authKeys[a.Name] = 0
		if len(a.KeyIDs) == 0 || len(a.KeyIDs) > maxKeysPerAuth {
			bad("spec.authorities[%d] (%s).keyIds: list 1-%d key ids (hex sha256 of the public key's DER, as `custody keys` prints)", i, a.Name, maxKeysPerAuth)
		}
		for j, k := range a.KeyIDs {
			if !keyIDRE.MatchString(k) {
				bad("spec.authorities[%d] (%s).keyIds[%d] %q: want 64 lowercase hex characters", i, a.Name, j, k)
			}
		}
	}
	keysOf := func(names []string) int {
		set := map[string]bool{}
		for _, a := range s.Authorities {
			if len(names) == 0 || slices.Contains(names, a.Name) {
				for _, k := range a.KeyIDs {
					set[k] = true
				}
			}
		}
		return len(set)
	}
	switch {
	case len(s.Requirements) == 0:
		bad("spec.requirements: name at least one; a policy that requires nothing would allow anything")
	case len(s.Requirements) > maxRequirements:
		bad("spec.requirements: %d exceed the limit of %d", len(s.Requirements), maxRequirements)
	}
	reqNames := map[string]bool{}
	required := 0
	for i, r := range s.Requirements {
		at := fmt.Sprintf("spec.requirements[%d] (%s)", i, r.Name)
		if !nameRE.MatchString(r.Name) {
			bad("spec.requirements[%d].name %q: use 1-63 lowercase letters, digits, '-' or '.'", i, r.Name)
		}
		if reqNames[r.Name] {
			bad("spec.requirements[%d].name %q: duplicate", i, r.Name)
		}
		reqNames[r.Name] = true
		if r.PredicateType == "" || len(r.PredicateType) > maxPredicateType || strings.ContainsAny(r.PredicateType, " \t\r\n") {
			bad("%s.predicateType %q: want a predicate type URI such as https://slsa.dev/provenance/v1", at, r.PredicateType)
		}
		if len(r.Condition) > maxConditionLen {
			bad("%s.condition: %d characters exceed the limit of %d", at, len(r.Condition), maxConditionLen)
		}
		for j, a := range r.Authorities {
			if _, ok := authKeys[a]; !ok {
				bad("%s.authorities[%d] %q: not declared in spec.authorities", at, j, a)
			}
		}
		if len(r.Authorities) != len(slices.Compact(slices.Sorted(slices.Values(r.Authorities)))) {
			bad("%s.authorities: duplicate names", at)
		}
		req := Requirement{
			Name: r.Name, PredicateType: r.PredicateType, Condition: r.Condition,
			Authorities: slices.Clone(r.Authorities), Required: true, Threshold: 1,
		}
		if r.Required != nil {
			req.Required = *r.Required
		}
		if req.Required {
			required++
		}
		if r.Threshold != nil {
			req.Threshold = *r.Threshold
			available := keysOf(r.Authorities)
			switch {
			case req.Threshold < 1 || req.Threshold > maxThreshold:
				bad("%s.threshold %d: want 1-%d distinct keys", at, req.Threshold, maxThreshold)
			case len(s.Authorities) > 0 && req.Threshold > available:
				bad("%s.threshold %d: its authorities hold only %d distinct keys, so it could never be met", at, req.Threshold, available)
			}
		}
		if r.MaxAge != "" {
			age, err := time.ParseDuration(r.MaxAge)
			switch {
			case err != nil:
				bad("%s.maxAge %q: want a duration such as 720h or 30m", at, r.MaxAge)
			case age <= 0 || age > maxMaxAge:
				bad("%s.maxAge %q: want a positive duration of at most %s", at, r.MaxAge, maxMaxAge)
			}
			req.MaxAge = age
		}
		out.requirements = append(out.requirements, req)
	}
	if len(s.Requirements) > 0 && required == 0 {
		bad("spec.requirements: every requirement is required: false; a policy that requires nothing would allow anything")
	}
	out.waivers, errs = validateWaivers(s.Waivers, now, errs)
	out.vex, errs = validateVEX(s.VEX, now, errs)
	return out, errors.Join(errs...)
}

func parseExpiry(at, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("%s.expires: missing; every waiver ends (RFC 3339, such as 2025-06-30T00:00:00Z)", at)
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s.expires %q: want an RFC 3339 time such as 2025-06-30T00:00:00Z", at, clip(v))
	}
	// A waiver lasts at most a year from the time the policy is loaded.
	if limit := now.AddDate(1, 0, 0); t.After(limit) {
		return time.Time{}, fmt.Errorf("%s.expires %s: more than a year ahead (after %s); waive for less and renew", at, v, limit.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func validOwner(s string) bool {
	return strings.TrimSpace(s) != "" && len(s) <= maxOwnerLen && !strings.ContainsAny(s, "\r\n")
}

func validateWaivers(ws []waiverDoc, now time.Time, errs []error) ([]Waiver, []error) {
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(ws) > MaxWaivers {
		bad("spec.waivers: %d exceed the limit of %d", len(ws), MaxWaivers)
		return nil, errs
	}
	var out []Waiver
	seen := map[string]bool{}
	for i, w := range ws {
		at := fmt.Sprintf("spec.waivers[%d]", i)
		if w.ID == "" || len(w.ID) > maxWaiverIDLen || strings.ContainsAny(w.ID, " \t\r\n") {
			bad("%s.id %q: want a vulnerability id or alias such as CVE-2024-1234 or GHSA-xxxx-xxxx-xxxx", at, clip(w.ID))
		}
		if !validOwner(w.Owner) {
			bad("%s.owner: name who answers for the waiver (1-%d characters on one line)", at, maxOwnerLen)
		}
		if strings.TrimSpace(w.Reason) == "" || len(w.Reason) > maxReasonLen {
			bad("%s.reason: say why the vulnerability is accepted (1-%d characters)", at, maxReasonLen)
		}
		exp, err := parseExpiry(at, w.Expires, now)
		if err != nil {
			errs = append(errs, err)
		}
		var pkg *packageurl.PackageURL
		if w.Package != "" {
			p, err := packageurl.FromString(w.Package)
			switch {
			case err != nil || len(w.Package) > maxPURLLen:
				bad("%s.package %q: want a package URL without version, such as pkg:golang/golang.org/x/net", at, clip(w.Package))
			case p.Version != "":
				bad("%s.package %q: drop the version (@%s); a waiver names a package, and a new version needs a new look", at, clip(w.Package), clip(p.Version))
			default:
				pkg = &p
			}
		}
		key := strings.ToLower(w.ID) + "\x00" + w.Package
		if seen[key] {
			bad("%s: duplicate waiver for %s%s", at, clip(w.ID), inPackage(w.Package))
		}
		seen[key] = true
		out = append(out, Waiver{ID: w.ID, Package: w.Package, Owner: w.Owner, Expires: exp, Reason: w.Reason, purl: pkg})
	}
	return out, errs
}

func inPackage(p string) string {
	if p == "" {
		return ""
	}
	return " in " + p
}

func validateVEX(vs []vexDoc, now time.Time, errs []error) ([]vexEntry, []error) {
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(vs) > MaxVEXDocuments {
		bad("spec.vex: %d documents exceed the limit of %d", len(vs), MaxVEXDocuments)
		return nil, errs
	}
	var out []vexEntry
	ids := map[string]bool{}
	for i, v := range vs {
		at := fmt.Sprintf("spec.vex[%d]", i)
		if !validOwner(v.Owner) {
			bad("%s.owner: name who answers for the VEX document (1-%d characters on one line)", at, maxOwnerLen)
		}
		exp, err := parseExpiry(at, v.Expires, now)
		if err != nil {
			errs = append(errs, err)
		}
		if strings.TrimSpace(v.Document) == "" {
			bad("%s.document: missing; paste the OpenVEX JSON document (https://openvex.dev/ns/v0.2.0)", at)
			continue
		}
		if len(v.Document) > MaxVEXDocumentSize {
			bad("%s.document: %d bytes exceed the limit of %d", at, len(v.Document), MaxVEXDocumentSize)
			continue
		}
		doc, err := vuln.ParseVEX([]byte(v.Document))
		if err != nil {
			bad("%s.document: %w", at, err)
			continue
		}
		if ids[doc.ID] {
			bad("%s.document: @id %q is used by another spec.vex document; give each its own", at, clip(doc.ID))
		}
		ids[doc.ID] = true
		out = append(out, newVEXEntry(v.Owner, exp, doc))
	}
	return out, errs
}

func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

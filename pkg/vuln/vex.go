package vuln

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	packageurl "github.com/anchore/packageurl-go"
)

// Bounds on one OpenVEX document.
const (
	MaxVEXSize           = 4 << 20
	MaxVEXStatements     = 10000
	MaxVEXProducts       = 1000 // per statement, and subcomponents per product
	MaxVEXStringLength   = 4096 // justification, statements, ids
	openVEXContextV0_2   = "https://openvex.dev/ns/v0.2.0"
	openVEXContextFamily = "https://openvex.dev/ns"
)

// ErrInvalidVEX is wrapped by every error [ParseVEX] returns.
var ErrInvalidVEX = errors.New("invalid OpenVEX document")

// OpenVEX justifications for not_affected.
var vexJustifications = []string{
	"component_not_present",
	"vulnerable_code_not_present",
	"vulnerable_code_not_in_execute_path",
	"vulnerable_code_cannot_be_controlled_by_adversary",
	"inline_mitigations_already_exist",
}

// VEXDocument is an OpenVEX v0.2.0 document.
type VEXDocument struct {
	Context    string         `json:"@context"`
	ID         string         `json:"@id"`
	Author     string         `json:"author"`
	Timestamp  time.Time      `json:"timestamp"`
	Version    int            `json:"version"`
	Statements []VEXStatement `json:"statements"`
}

// VEXStatement is one statement: a vulnerability, the products it is about, a status.
type VEXStatement struct {
	ID              string           `json:"@id,omitempty"`
	Vulnerability   VEXVulnerability `json:"vulnerability"`
	Timestamp       *time.Time       `json:"timestamp,omitempty"`
	Products        []VEXProduct     `json:"products"`
	Status          string           `json:"status"`
	Justification   string           `json:"justification,omitempty"`
	ImpactStatement string           `json:"impact_statement,omitempty"`
	ActionStatement string           `json:"action_statement,omitempty"`
	StatusNotes     string           `json:"status_notes,omitempty"`
}

// VEXVulnerability names the vulnerability; OpenVEX before v0.2.0 wrote it as a string,
// which is accepted too.
type VEXVulnerability struct {
	ID      string   `json:"@id,omitempty"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
}

// UnmarshalJSON accepts the object form and the older string form.
func (v *VEXVulnerability) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*v = VEXVulnerability{Name: s}
		return nil
	}
	type plain VEXVulnerability
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*v = VEXVulnerability(p)
	return nil
}

// VEXProduct identifies a product (an image) or a component, by @id, identifiers and
// hashes; Subcomponents narrow a statement to packages inside the product.
type VEXProduct struct {
	ID            string            `json:"@id,omitempty"`
	Identifiers   map[string]string `json:"identifiers,omitempty"`
	Hashes        map[string]string `json:"hashes,omitempty"`
	Subcomponents []VEXProduct      `json:"subcomponents,omitempty"`
}

// ParseVEX decodes and validates an OpenVEX document (v0.2.0; the older string form of
// vulnerability is accepted). A not_affected statement must carry a justification or an
// impact statement, as the specification requires.
func ParseVEX(data []byte) (*VEXDocument, error) {
	if len(data) > MaxVEXSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidVEX, len(data), MaxVEXSize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrInvalidVEX)
	}
	var d VEXDocument
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidVEX, jsonError(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidVEX)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidVEX, clip(d.ID), err)
	}
	return &d, nil
}

func (d *VEXDocument) validate() error {
	if !strings.HasPrefix(d.Context, openVEXContextFamily) {
		return fmt.Errorf("@context %q: want %s", clip(d.Context), openVEXContextV0_2)
	}
	if d.ID == "" {
		return errors.New("@id: missing")
	}
	if d.Timestamp.IsZero() {
		return errors.New("timestamp: missing")
	}
	for _, s := range []string{d.ID, d.Author} {
		if len(s) > MaxVEXStringLength {
			return fmt.Errorf("@id or author longer than %d bytes", MaxVEXStringLength)
		}
	}
	if len(d.Statements) > MaxVEXStatements {
		return fmt.Errorf("statements: %d exceed %d", len(d.Statements), MaxVEXStatements)
	}
	for i := range d.Statements {
		if err := d.Statements[i].validate(); err != nil {
			return fmt.Errorf("statements[%d]: %w", i, err)
		}
	}
	return nil
}

func (s *VEXStatement) validate() error {
	if s.Vulnerability.Name == "" {
		return errors.New("vulnerability.name: missing")
	}
	for _, v := range []string{s.ID, s.Vulnerability.ID, s.Vulnerability.Name, s.Justification,
		s.ImpactStatement, s.ActionStatement, s.StatusNotes} {
		if len(v) > MaxVEXStringLength {
			return fmt.Errorf("a field is longer than %d bytes", MaxVEXStringLength)
		}
	}
	if len(s.Vulnerability.Aliases) > MaxAliases {
		return fmt.Errorf("vulnerability.aliases: %d exceed %d", len(s.Vulnerability.Aliases), MaxAliases)
	}
	switch s.Status {
	case StatusNotAffected:
		if s.Justification == "" && s.ImpactStatement == "" {
			return errors.New("status not_affected needs a justification or an impact_statement")
		}
		if s.Justification != "" && !slices.Contains(vexJustifications, s.Justification) {
			return fmt.Errorf("justification %q: want one of %s", clip(s.Justification), strings.Join(vexJustifications, ", "))
		}
	case StatusAffected, StatusFixed, StatusUnderInvestigation:
	default:
		return fmt.Errorf("status %q: want not_affected, affected, fixed or under_investigation", clip(s.Status))
	}
	if len(s.Products) == 0 {
		return errors.New("products: at least one product is required")
	}
	if len(s.Products) > MaxVEXProducts {
		return fmt.Errorf("products: %d exceed %d", len(s.Products), MaxVEXProducts)
	}
	for i, p := range s.Products {
		if err := p.validate(true); err != nil {
			return fmt.Errorf("products[%d]: %w", i, err)
		}
	}
	return nil
}

func (p *VEXProduct) validate(top bool) error {
	if p.ID == "" && len(p.Identifiers) == 0 && len(p.Hashes) == 0 {
		return errors.New("@id, identifiers or hashes required")
	}
	if len(p.ID) > MaxVEXStringLength || len(p.Identifiers)+len(p.Hashes) > 32 {
		return errors.New("identifier too long or too many")
	}
	for _, v := range p.Identifiers {
		if len(v) > MaxVEXStringLength {
			return errors.New("identifier too long")
		}
	}
	for _, v := range p.Hashes {
		if len(v) > MaxVEXStringLength {
			return errors.New("hash too long")
		}
	}
	if !top && len(p.Subcomponents) > 0 {
		return errors.New("subcomponents: nested subcomponents are not allowed")
	}
	if len(p.Subcomponents) > MaxVEXProducts {
		return fmt.Errorf("subcomponents: %d exceed %d", len(p.Subcomponents), MaxVEXProducts)
	}
	for i := range p.Subcomponents {
		if err := p.Subcomponents[i].validate(false); err != nil {
			return fmt.Errorf("subcomponents[%d]: %w", i, err)
		}
	}
	return nil
}

// Subject identifies the artifact a report is about, for matching VEX products: a
// package URL (pkg:oci/…) and/or a digest ("sha256:…").
type Subject struct {
	PURL   string
	Digest string
}

// ApplyVEX applies VEX statements to the findings of a report about subject. A statement
// applies to a finding when its vulnerability name or aliases equal the finding's id or
// one of its aliases, and one of its products is the subject (by package URL, @id or
// hash; then, if the product lists subcomponents, one of them must be the finding's
// package) or is the finding's package itself. Among the statements that apply, the one
// with the latest timestamp (a statement's own, else its document's) wins; at equal
// times the later document and statement wins. not_affected and fixed change the
// finding's status and record the statement; affected and under_investigation leave it
// counted against the subject. Findings are never removed.
func ApplyVEX(rep *Report, subject Subject, docs ...*VEXDocument) {
	for i := range rep.Findings {
		f := &rep.Findings[i]
		var best *VEXStatement
		var bestDoc *VEXDocument
		var bestTime time.Time
		for _, d := range docs {
			for j := range d.Statements {
				s := &d.Statements[j]
				if !s.namesVulnerability(f) || !s.coversPackage(subject, f.PURL) {
					continue
				}
				t := d.Timestamp
				if s.Timestamp != nil && !s.Timestamp.IsZero() {
					t = *s.Timestamp
				}
				if best == nil || !t.Before(bestTime) {
					best, bestDoc, bestTime = s, d, t
				}
			}
		}
		if best == nil {
			continue
		}
		f.Status = best.Status
		f.VEX = &VEXNote{
			Document:        bestDoc.ID,
			Justification:   best.Justification,
			ImpactStatement: best.ImpactStatement,
			ActionStatement: best.ActionStatement,
		}
	}
}

func (s *VEXStatement) namesVulnerability(f *Finding) bool {
	names := append([]string{s.Vulnerability.Name}, s.Vulnerability.Aliases...)
	for _, n := range names {
		if n == "" {
			continue
		}
		if strings.EqualFold(n, f.ID) || slices.ContainsFunc(f.Aliases, func(a string) bool { return strings.EqualFold(a, n) }) {
			return true
		}
	}
	return false
}

func (s *VEXStatement) coversPackage(subject Subject, pkgPURL string) bool {
	for _, p := range s.Products {
		if p.identifies(pkgPURL, "") {
			return true
		}
		if !p.identifies(subject.PURL, subject.Digest) {
			continue
		}
		if len(p.Subcomponents) == 0 {
			return true
		}
		for _, sc := range p.Subcomponents {
			if sc.identifies(pkgPURL, "") {
				return true
			}
		}
	}
	return false
}

// identifies reports whether the product names the artifact with package URL purl
// and/or digest ("sha256:hex").
func (p *VEXProduct) identifies(purl, digest string) bool {
	ids := []string{p.ID, p.Identifiers["purl"]}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if purl != "" && purlMatches(id, purl) {
			return true
		}
		if digest != "" && (id == digest || purlDigest(id) == digest) {
			return true
		}
	}
	if digest != "" {
		alg, hex, ok := strings.Cut(digest, ":")
		if ok {
			for k, v := range p.Hashes {
				if strings.EqualFold(strings.ReplaceAll(k, "-", ""), alg) && strings.EqualFold(v, hex) {
					return true
				}
			}
		}
	}
	return false
}

// purlMatches reports whether package URL pattern names actual: same type, namespace
// and name, the same version when the pattern has one, and every qualifier of the
// pattern present in actual with the same value.
func purlMatches(pattern, actual string) bool {
	if pattern == actual {
		return true
	}
	if !strings.HasPrefix(pattern, "pkg:") || !strings.HasPrefix(actual, "pkg:") {
		return false
	}
	p, err := packageurl.FromString(pattern)
	if err != nil {
		return false
	}
	a, err := packageurl.FromString(actual)
	if err != nil {
		return false
	}
	if p.Type != a.Type || p.Namespace != a.Namespace || p.Name != a.Name || p.Subpath != a.Subpath {
		return false
	}
	if p.Version != "" && p.Version != a.Version {
		return false
	}
	aq := a.Qualifiers.Map()
	for k, v := range p.Qualifiers.Map() {
		if aq[k] != v {
			return false
		}
	}
	return true
}

// purlDigest returns the version of a pkg:oci URL, which is the image digest.
func purlDigest(s string) string {
	if !strings.HasPrefix(s, "pkg:oci/") {
		return ""
	}
	p, err := packageurl.FromString(s)
	if err != nil {
		return ""
	}
	return p.Version
}

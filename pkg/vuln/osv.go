package vuln

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on one OSV record. Real records are far below them (the largest published
// records are a few hundred KiB, with a few hundred affected versions).
const (
	MaxRecordSize     = 4 << 20 // bytes of one record's JSON
	MaxIDLength       = 128
	MaxAliases        = 256 // also bounds upstream and related
	MaxAffected       = 1024
	MaxRanges         = 64 // per affected package
	MaxEvents         = 1024
	MaxVersions       = 20000 // explicit versions per affected package
	MaxSeverities     = 16
	MaxReferences     = 2048
	MaxSummaryLength  = 1024
	MaxDetailsLength  = 256 << 10
	MaxStringLength   = 1024 // names, versions, ecosystems, URLs, vectors
	MaxVersionLength  = 256
	maxEcosystemParts = 8
)

// Range types defined by the OSV schema.
const (
	RangeSemver    = "SEMVER"
	RangeEcosystem = "ECOSYSTEM"
	RangeGit       = "GIT"
)

// ErrInvalidRecord is wrapped by every error [Parse] returns for a record that does not
// follow the OSV schema or exceeds a bound.
var ErrInvalidRecord = errors.New("invalid OSV record")

// Record is one OSV vulnerability record. Fields the matcher does not need
// (credits, database_specific outside severity, …) are not kept; the raw JSON is.
type Record struct {
	SchemaVersion string     `json:"schema_version,omitempty"`
	ID            string     `json:"id"`
	Modified      time.Time  `json:"modified"`
	Published     *time.Time `json:"published,omitempty"`
	Withdrawn     *time.Time `json:"withdrawn,omitempty"`
	Aliases       []string   `json:"aliases,omitempty"`
	// Upstream names the vulnerabilities this record is a downstream view of
	// (DEBIAN-CVE-2024-2511 of CVE-2024-2511).
	Upstream   []string    `json:"upstream,omitempty"`
	Related    []string    `json:"related,omitempty"`
	Summary    string      `json:"summary,omitempty"`
	Details    string      `json:"details,omitempty"`
	Severity   []Severity  `json:"severity,omitempty"`
	Affected   []Affected  `json:"affected,omitempty"`
	References []Reference `json:"references,omitempty"`
	// DatabaseSpecific is kept for its "severity" label (GitHub advisories).
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is one OSV severity entry: a type (CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu) and
// its score, which for CVSS types is the vector string.
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected package with its ranges and explicit versions.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package names a package in an OSV ecosystem ("Debian:12", "PyPI", "Go", …).
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range is one OSV range: a type and its events.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the vulnerability.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// IsWithdrawn reports whether the record has been withdrawn; withdrawn records never match.
func (r *Record) IsWithdrawn() bool { return r.Withdrawn != nil && !r.Withdrawn.IsZero() }

// Parse decodes and validates one OSV record. The error names the record id (when it
// could be read) and the offending field, and wraps [ErrInvalidRecord].
func Parse(data []byte) (*Record, error) {
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the limit of %d", ErrInvalidRecord, len(data), MaxRecordSize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrInvalidRecord)
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidRecord, jsonError(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w %q: trailing data after the JSON object", ErrInvalidRecord, clip(r.ID))
	}
	if err := r.validate(); err != nil {
		name := clip(r.ID)
		if name == "" {
			name = "(no id)"
		}
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidRecord, name, err)
	}
	return &r, nil
}

// jsonError keeps decoding errors short and free of the (possibly huge) input.
func jsonError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q: expected %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	return clip(err.Error())
}

// clip bounds a string copied from input into an error message.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func (r *Record) validate() error {
	if err := checkID("id", r.ID); err != nil {
		return err
	}
	if r.Modified.IsZero() {
		return errors.New("modified: missing (an RFC 3339 timestamp is required)")
	}
	for _, t := range []struct {
		field string
		t     *time.Time
	}{{"modified", &r.Modified}, {"published", r.Published}, {"withdrawn", r.Withdrawn}} {
		if t.t != nil && !t.t.IsZero() && (t.t.Before(minTime) || !t.t.Before(maxTime)) {
			return fmt.Errorf("%s %s: outside 1970-2261", t.field, t.t.UTC().Format(time.RFC3339))
		}
	}
	if err := checkIDs("aliases", r.Aliases); err != nil {
		return err
	}
	if err := checkIDs("upstream", r.Upstream); err != nil {
		return err
	}
	if err := checkIDs("related", r.Related); err != nil {
		return err
	}
	if len(r.Summary) > MaxSummaryLength {
		return fmt.Errorf("summary: %d bytes exceeds %d", len(r.Summary), MaxSummaryLength)
	}
	if len(r.Details) > MaxDetailsLength {
		return fmt.Errorf("details: %d bytes exceeds %d", len(r.Details), MaxDetailsLength)
	}
	if err := checkSeverities("severity", r.Severity); err != nil {
		return err
	}
	if len(r.References) > MaxReferences {
		return fmt.Errorf("references: %d entries exceed %d", len(r.References), MaxReferences)
	}
	for i, ref := range r.References {
		if len(ref.Type) > MaxStringLength || len(ref.URL) > MaxStringLength {
			return fmt.Errorf("references[%d]: longer than %d bytes", i, MaxStringLength)
		}
	}
	if len(r.Affected) > MaxAffected {
		return fmt.Errorf("affected: %d entries exceed %d", len(r.Affected), MaxAffected)
	}
	for i := range r.Affected {
		if err := r.Affected[i].validate(); err != nil {
			return fmt.Errorf("affected[%d]: %w", i, err)
		}
	}
	return nil
}

func checkID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%s: missing", field)
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("%s: %d bytes exceeds %d", field, len(id), MaxIDLength)
	}
	for _, c := range id {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':':
		default:
			return fmt.Errorf("%s %q: character %q not allowed (letters, digits, - _ . :)", field, clip(id), c)
		}
	}
	return nil
}

func checkIDs(field string, ids []string) error {
	if len(ids) > MaxAliases {
		return fmt.Errorf("%s: %d entries exceed %d", field, len(ids), MaxAliases)
	}
	for i, id := range ids {
		if err := checkID(fmt.Sprintf("%s[%d]", field, i), id); err != nil {
			return err
		}
	}
	return nil
}

func checkSeverities(field string, sev []Severity) error {
	if len(sev) > MaxSeverities {
		return fmt.Errorf("%s: %d entries exceed %d", field, len(sev), MaxSeverities)
	}
	for i, s := range sev {
		if s.Type == "" || s.Score == "" {
			return fmt.Errorf("%s[%d]: type and score are required", field, i)
		}
		if len(s.Type) > MaxStringLength || len(s.Score) > MaxStringLength {
			return fmt.Errorf("%s[%d]: longer than %d bytes", field, i, MaxStringLength)
		}
	}
	return nil
}

// Timestamps a record may carry: what databases store as Unix nanoseconds.
var (
	minTime = time.Unix(1, 0)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

func checkString(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s: %d bytes exceeds %d", field, len(s), max)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s: contains a NUL byte", field)
	}
	return nil
}

func (a *Affected) validate() error {
	p := a.Package
	if p.Ecosystem == "" || p.Name == "" {
		return errors.New("package: ecosystem and name are required")
	}
	if err := checkString("package.ecosystem", p.Ecosystem, MaxStringLength); err != nil {
		return err
	}
	if strings.Count(p.Ecosystem, ":") >= maxEcosystemParts {
		return fmt.Errorf("package.ecosystem %q: too many ':' parts", clip(p.Ecosystem))
	}
	if err := checkString("package.name", p.Name, MaxStringLength); err != nil {
		return err
	}
	if err := checkString("package.purl", p.PURL, MaxStringLength); err != nil {
		return err
	}
	if err := checkSeverities("severity", a.Severity); err != nil {
		return err
	}
	if len(a.Versions) > MaxVersions {
		return fmt.Errorf("versions: %d entries exceed %d", len(a.Versions), MaxVersions)
	}
	for i, v := range a.Versions {
		if v == "" {
			return fmt.Errorf("versions[%d]: empty", i)
		}
		if err := checkString(fmt.Sprintf("versions[%d]", i), v, MaxVersionLength); err != nil {
			return err
		}
	}
	if len(a.Ranges) > MaxRanges {
		return fmt.Errorf("ranges: %d entries exceed %d", len(a.Ranges), MaxRanges)
	}
	for i, rg := range a.Ranges {
		if err := rg.validate(); err != nil {
			return fmt.Errorf("ranges[%d]: %w", i, err)
		}
	}
	return nil
}

func (rg *Range) validate() error {
	switch rg.Type {
	case RangeSemver, RangeEcosystem:
	case RangeGit:
		if rg.Repo == "" {
			return errors.New("type GIT requires repo")
		}
	default:
		return fmt.Errorf("type %q: want SEMVER, ECOSYSTEM or GIT", clip(rg.Type))
	}
	if err := checkString("repo", rg.Repo, MaxStringLength); err != nil {
		return err
	}
	if len(rg.Events) == 0 {
		return errors.New("events: at least one event is required")
	}
	if len(rg.Events) > MaxEvents {
		return fmt.Errorf("events: %d entries exceed %d", len(rg.Events), MaxEvents)
	}
	introduced := false
	for i, e := range rg.Events {
		n := 0
		for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
			if v != "" {
				n++
				if err := checkString(fmt.Sprintf("events[%d]", i), v, MaxVersionLength); err != nil {
					return err
				}
			}
		}
		if n != 1 {
			return fmt.Errorf("events[%d]: exactly one of introduced, fixed, last_affected, limit must be set", i)
		}
		if e.Introduced != "" {
			introduced = true
		}
	}
	if !introduced {
		return errors.New("events: an introduced event is required")
	}
	return nil
}

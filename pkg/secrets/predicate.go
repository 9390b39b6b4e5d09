package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// PredicateType is the in-toto predicate type of a secrets scan.
const PredicateType = "https://custody.dev/attestations/secrets/v1"

// Limits ParsePredicate puts on a predicate.
const (
	MaxPredicateSize     = 16 << 20
	MaxPredicateFindings = 100000
)

// Scan statuses.
const (
	// StatusComplete: every file was read to its end and no finding was dropped.
	StatusComplete = "complete"
	// StatusPartial: some file was longer than the per-file cap, or findings were
	// dropped by a limit.
	StatusPartial = "partial"
	// StatusFailed: the caller could not read the whole image; the findings are those
	// of the files read.
	StatusFailed = "failed"
)

// ErrInvalidPredicate is returned by ParsePredicate and Predicate for a document that
// does not follow the predicate's schema.
var ErrInvalidPredicate = errors.New("invalid secrets predicate")

// PredicateMeta is what Predicate needs besides a Report.
type PredicateMeta struct {
	ScannerURI     string // e.g. "https://custody.dev/scanner"
	ScannerVersion string
	// Failed marks a scan that could not read the whole image.
	Failed bool
}

// ScannerInfo names the scanner.
type ScannerInfo struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
}

// RulesetInfo names the rule set.
type RulesetInfo struct {
	Version string `json:"version"`
}

// SecretsPredicate is the predicate of a secrets attestation.
type SecretsPredicate struct {
	Scanner   ScannerInfo `json:"scanner"`
	Ruleset   RulesetInfo `json:"ruleset"`
	Status    string      `json:"status"`
	Stats     Stats       `json:"stats"`
	Findings  []Finding   `json:"findings"`
	Truncated bool        `json:"truncated"`
}

// Predicate returns the JSON predicate (PredicateType) for report. The output is
// deterministic: findings are sorted as Report sorts them.
func Predicate(report Report, meta PredicateMeta) ([]byte, error) {
	if meta.ScannerURI == "" || meta.ScannerVersion == "" {
		return nil, fmt.Errorf("predicate needs the scanner's URI and version: %w", ErrInvalidPredicate)
	}
	status := StatusComplete
	switch {
	case meta.Failed:
		status = StatusFailed
	case report.Truncated || report.Stats.FilesCapped > 0:
		status = StatusPartial
	}
	fs := append([]Finding{}, report.Findings...)
	sortFindings(fs)
	p := SecretsPredicate{
		Scanner:   ScannerInfo{URI: meta.ScannerURI, Version: meta.ScannerVersion},
		Ruleset:   RulesetInfo{Version: RulesetVersion},
		Status:    status,
		Stats:     report.Stats,
		Findings:  fs,
		Truncated: report.Truncated,
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// ParsePredicate reads a predicate written by Predicate. It is strict: documents over
// MaxPredicateSize, unknown fields, trailing data, more than MaxPredicateFindings
// findings, unknown statuses or severities and malformed fingerprints are rejected, so
// that a gate never decides on a document it only partly understands (a new field
// means a new predicate type).
func ParsePredicate(data []byte) (*SecretsPredicate, error) {
	if len(data) > MaxPredicateSize {
		return nil, fmt.Errorf("predicate of %d bytes, more than %d: %w", len(data), MaxPredicateSize, ErrInvalidPredicate)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p SecretsPredicate
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode predicate: %w: %w", ErrInvalidPredicate, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the predicate: %w", ErrInvalidPredicate)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *SecretsPredicate) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrInvalidPredicate)
	}
	if p.Scanner.URI == "" || p.Scanner.Version == "" || p.Ruleset.Version == "" {
		return bad("scanner uri, scanner version and ruleset version are required")
	}
	switch p.Status {
	case StatusComplete, StatusPartial, StatusFailed:
	default:
		return bad("unknown status %q", p.Status)
	}
	if p.Findings == nil {
		return bad("findings are required (an empty list when there are none)")
	}
	if len(p.Findings) > MaxPredicateFindings {
		return bad("%d findings, more than %d", len(p.Findings), MaxPredicateFindings)
	}
	s := p.Stats
	if s.FilesScanned < 0 || s.FilesBinary < 0 || s.FilesSkipped < 0 || s.FilesCapped < 0 || s.BytesScanned < 0 || s.FindingsDropped < 0 {
		return bad("negative count in stats")
	}
	for i, f := range p.Findings {
		switch {
		case f.RuleID == "" || len(f.RuleID) > 128:
			return bad("finding %d: rule id of %d bytes", i, len(f.RuleID))
		case !f.Severity.valid():
			return bad("finding %d: unknown severity %q", i, f.Severity)
		case !validFingerprint(f.Fingerprint):
			return bad("finding %d: fingerprint is not 32 lower-case hex digits", i)
		case len(f.Path) > 4096 || len(f.Layer) > 256 || len(f.Title) > 256 || len(f.KeyType) > 32:
			return bad("finding %d: field too long", i)
		case f.Line < 0 || f.LayerIndex < 0:
			return bad("finding %d: negative line or layer index", i)
		}
	}
	return nil
}

func validFingerprint(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && !('a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

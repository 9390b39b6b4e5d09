package vuln

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// PredicateType is the in-toto vulns predicate this package writes and reads.
const PredicateType = "https://in-toto.io/attestation/vulns/v0.2"

// Bounds on a predicate read by [ParsePredicate].
const (
	MaxPredicateSize    = 16 << 20
	MaxPredicateResults = 100000
)

// ErrInvalidPredicate is wrapped by every error [ParsePredicate] returns.
var ErrInvalidPredicate = errors.New("invalid vulns predicate")

// Severity methods written in a result's severity list. Every result carries a
// "rating" entry (none, low, medium, high, critical or unknown); one with a CVSS vector
// also carries its base score under "cvss_v2", "cvss_v3" or "cvss_v4".
const (
	MethodRating = "rating"
	MethodCVSSv2 = "cvss_v2"
	MethodCVSSv3 = "cvss_v3"
	MethodCVSSv4 = "cvss_v4"
)

// Predicate is the in-toto vulns v0.2 predicate
// (https://github.com/in-toto/attestation/blob/main/spec/predicates/vulns_02.md), with
// JSON names as the specification and its Go binding (protojson) write them.
type Predicate struct {
	Scanner  PredicateScanner  `json:"scanner"`
	Metadata PredicateMetadata `json:"metadata"`
}

// PredicateScanner names the scanner, its database and holds the results.
type PredicateScanner struct {
	URI     string            `json:"uri"`
	Version string            `json:"version,omitempty"`
	DB      PredicateDB       `json:"db"`
	Result  []PredicateResult `json:"result"`
}

// PredicateDB describes the vulnerability database.
type PredicateDB struct {
	URI        string    `json:"uri,omitempty"`
	Version    string    `json:"version,omitempty"`
	LastUpdate time.Time `json:"lastUpdate"`
}

// PredicateResult is one vulnerability in one package.
type PredicateResult struct {
	ID       string              `json:"id"`
	Severity []PredicateSeverity `json:"severity"`
	// Annotations holds exactly one [Annotation] in what this package writes.
	Annotations []Annotation `json:"annotations,omitempty"`
}

// PredicateSeverity is one (method, score) pair.
type PredicateSeverity struct {
	Method string `json:"method"`
	Score  string `json:"score"`
}

// Annotation is what Custody adds to each result: the package, the matched version,
// aliases, fixed versions, the CVSS vector, and the status with the VEX statement that
// set it. Keys are fixed and written in this order; empty values are left out.
type Annotation struct {
	Package         string   `json:"package,omitempty"`
	Ecosystem       string   `json:"ecosystem,omitempty"`
	Name            string   `json:"name,omitempty"`
	Version         string   `json:"version,omitempty"`
	Aliases         []string `json:"aliases,omitempty"`
	Fixed           []string `json:"fixedVersions,omitempty"`
	Summary         string   `json:"summary,omitempty"`
	CVSSVector      string   `json:"cvssVector,omitempty"`
	Status          string   `json:"status,omitempty"`
	VEXDocument     string   `json:"vexDocument,omitempty"`
	Justification   string   `json:"justification,omitempty"`
	ImpactStatement string   `json:"impactStatement,omitempty"`
}

// PredicateMetadata holds the scan times.
type PredicateMetadata struct {
	ScanStartedOn  time.Time `json:"scanStartedOn"`
	ScanFinishedOn time.Time `json:"scanFinishedOn"`
}

// ScanInfo describes the scan for [NewPredicate].
type ScanInfo struct {
	ScannerURI     string
	ScannerVersion string
	DBURI          string
	DBVersion      string
	DBLastUpdate   time.Time
	StartedOn      time.Time
	FinishedOn     time.Time
}

// NewPredicate builds the vulns predicate for a report: one result per finding, in the
// report's order (package URL, then id), whatever its status, so that a reader sees the
// VEX decisions too. Times are written in UTC. The same report and info give the same
// bytes.
func NewPredicate(rep *Report, info ScanInfo) ([]byte, error) {
	if info.ScannerURI == "" {
		return nil, errors.New("vulns predicate: scanner uri is required")
	}
	if info.StartedOn.IsZero() || info.FinishedOn.IsZero() || info.DBLastUpdate.IsZero() {
		return nil, errors.New("vulns predicate: scan start, finish and database update times are required")
	}
	p := Predicate{
		Scanner: PredicateScanner{
			URI:     info.ScannerURI,
			Version: info.ScannerVersion,
			DB:      PredicateDB{URI: info.DBURI, Version: info.DBVersion, LastUpdate: info.DBLastUpdate.UTC()},
			Result:  make([]PredicateResult, 0, len(rep.Findings)),
		},
		Metadata: PredicateMetadata{ScanStartedOn: info.StartedOn.UTC(), ScanFinishedOn: info.FinishedOn.UTC()},
	}
	for _, f := range rep.Findings {
		sev := []PredicateSeverity{{Method: MethodRating, Score: f.Severity.Rating}}
		if m := cvssMethod(f.Severity.Type); m != "" {
			sev = append(sev, PredicateSeverity{Method: m, Score: strconv.FormatFloat(f.Severity.Base, 'f', 1, 64)})
		}
		a := Annotation{
			Package:    f.PURL,
			Ecosystem:  f.Ecosystem,
			Name:       f.Name,
			Version:    f.Version,
			Aliases:    f.Aliases,
			Fixed:      f.Fixed,
			Summary:    f.Summary,
			CVSSVector: f.Severity.Vector,
			Status:     f.Status,
		}
		if f.VEX != nil {
			a.VEXDocument, a.Justification, a.ImpactStatement = f.VEX.Document, f.VEX.Justification, f.VEX.ImpactStatement
		}
		p.Scanner.Result = append(p.Scanner.Result, PredicateResult{ID: f.ID, Severity: sev, Annotations: []Annotation{a}})
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("vulns predicate: %w", err)
	}
	return b, nil
}

func cvssMethod(typ string) string {
	switch typ {
	case "CVSS_V2":
		return MethodCVSSv2
	case "CVSS_V3":
		return MethodCVSSv3
	case "CVSS_V4":
		return MethodCVSSv4
	}
	return ""
}

// ParsePredicate decodes a vulns v0.2 predicate, written by Custody or another scanner
// (annotation keys it does not know are ignored), and checks the fields the
// specification requires: scanner.uri, scanner.db.lastUpdate, scanner.result (an empty
// list means nothing was found, a missing one is an error), each result's id and
// severity, and the scan times.
func ParsePredicate(data []byte) (*Predicate, error) {
	if len(data) > MaxPredicateSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidPredicate, len(data), MaxPredicateSize)
	}
	var raw struct {
		Scanner struct {
			PredicateScanner
			Result *[]PredicateResult `json:"result"`
		} `json:"scanner"`
		Metadata PredicateMetadata `json:"metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidPredicate, jsonError(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidPredicate)
	}
	p := Predicate{Scanner: raw.Scanner.PredicateScanner, Metadata: raw.Metadata}
	switch {
	case p.Scanner.URI == "":
		return nil, fmt.Errorf("%w: scanner.uri: missing", ErrInvalidPredicate)
	case p.Scanner.DB.LastUpdate.IsZero():
		return nil, fmt.Errorf("%w: scanner.db.lastUpdate: missing", ErrInvalidPredicate)
	case raw.Scanner.Result == nil:
		return nil, fmt.Errorf("%w: scanner.result: missing (an empty list means no findings)", ErrInvalidPredicate)
	case p.Metadata.ScanStartedOn.IsZero() || p.Metadata.ScanFinishedOn.IsZero():
		return nil, fmt.Errorf("%w: metadata.scanStartedOn and scanFinishedOn are required", ErrInvalidPredicate)
	}
	p.Scanner.Result = *raw.Scanner.Result
	if len(p.Scanner.Result) > MaxPredicateResults {
		return nil, fmt.Errorf("%w: %d results exceed %d", ErrInvalidPredicate, len(p.Scanner.Result), MaxPredicateResults)
	}
	for i, r := range p.Scanner.Result {
		if r.ID == "" {
			return nil, fmt.Errorf("%w: scanner.result[%d].id: missing", ErrInvalidPredicate, i)
		}
		if len(r.Severity) == 0 {
			return nil, fmt.Errorf("%w: scanner.result[%d] (%s).severity: missing", ErrInvalidPredicate, i, clip(r.ID))
		}
		for j, s := range r.Severity {
			if s.Method == "" || s.Score == "" {
				return nil, fmt.Errorf("%w: scanner.result[%d].severity[%d]: method and score are required", ErrInvalidPredicate, i, j)
			}
		}
	}
	return &p, nil
}

// Rating returns the result's qualitative rating from its "rating" severity entry, or
// "" when it has none.
func (r PredicateResult) Rating() string {
	for _, s := range r.Severity {
		if s.Method == MethodRating {
			return s.Score
		}
	}
	return ""
}

// Status returns the status annotation Custody writes, affected when there is none.
func (r PredicateResult) Status() string {
	for _, a := range r.Annotations {
		if a.Status != "" {
			return a.Status
		}
	}
	return StatusAffected
}

package vuln

import (
	"encoding/json"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Qualitative ratings, from the CVSS v3/v4 specification's scale.
const (
	RatingNone     = "none"
	RatingLow      = "low"
	RatingMedium   = "medium"
	RatingHigh     = "high"
	RatingCritical = "critical"
	RatingUnknown  = "unknown"
)

// Score summarises a record's severity for one package.
type Score struct {
	// Type is the OSV severity type the score came from (CVSS_V3, CVSS_V4, CVSS_V2), or
	// "label" when only a qualitative label was published, or "" when nothing was.
	Type string `json:"type,omitempty"`
	// Vector is the CVSS vector, when there was one.
	Vector string `json:"vector,omitempty"`
	// Base is the CVSS base score computed from Vector (0 when there is no vector).
	Base float64 `json:"base,omitempty"`
	// Rating is none, low, medium, high, critical or unknown.
	Rating string `json:"rating"`
}

// cvssOrder is the preference among vectors: v3 is what most policies threshold on,
// then v4, then v2.
var cvssOrder = []string{"CVSS_V3", "CVSS_V4", "CVSS_V2"}

// scoreOf picks the severity of a record for one affected entry: a parsable CVSS vector
// from the affected entry, else from the record, in cvssOrder; else a published label
// (database_specific.severity, ecosystem_specific.severity, an Ubuntu priority); else
// unknown.
func scoreOf(r *Record, a *Affected) Score {
	for _, list := range [][]Severity{a.Severity, r.Severity} {
		for _, typ := range cvssOrder {
			for _, s := range list {
				if s.Type != typ {
					continue
				}
				if base, ok := cvssBase(typ, s.Score); ok {
					return Score{Type: typ, Vector: s.Score, Base: base, Rating: ratingOf(base)}
				}
			}
		}
	}
	for _, raw := range []json.RawMessage{a.EcosystemSpecific, a.DatabaseSpecific, r.DatabaseSpecific} {
		if l := labelRating(raw); l != "" {
			return Score{Type: "label", Rating: l}
		}
	}
	for _, list := range [][]Severity{a.Severity, r.Severity} {
		for _, s := range list {
			if l := normaliseLabel(s.Score); l != "" {
				return Score{Type: "label", Rating: l}
			}
		}
	}
	return Score{Rating: RatingUnknown}
}

// cvssBase computes the base score of a vector with github.com/pandatix/go-cvss.
func cvssBase(typ, vector string) (float64, bool) {
	switch typ {
	case "CVSS_V2":
		v, err := gocvss20.ParseVector(strings.TrimPrefix(vector, "CVSS:2.0/"))
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	case "CVSS_V3":
		if strings.HasPrefix(vector, "CVSS:3.0/") {
			v, err := gocvss30.ParseVector(vector)
			if err != nil {
				return 0, false
			}
			return v.BaseScore(), true
		}
		v, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	case "CVSS_V4":
		v, err := gocvss40.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return v.Score(), true
	}
	return 0, false
}

// ratingOf maps a base score to the CVSS v3 qualitative scale.
func ratingOf(score float64) string {
	switch {
	case score <= 0:
		return RatingNone
	case score < 4:
		return RatingLow
	case score < 7:
		return RatingMedium
	case score < 9:
		return RatingHigh
	default:
		return RatingCritical
	}
}

// labelRating reads {"severity": "..."} from a database_specific or ecosystem_specific
// object.
func labelRating(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v struct {
		Severity json.RawMessage `json:"severity"`
	}
	if json.Unmarshal(raw, &v) != nil || len(v.Severity) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Severity, &s) != nil {
		return ""
	}
	return normaliseLabel(s)
}

// normaliseLabel maps the labels databases publish (GitHub's MODERATE, Red Hat's
// Important, Debian's and Ubuntu's priorities) to the CVSS scale.
func normaliseLabel(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return RatingCritical
	case "high", "important":
		return RatingHigh
	case "medium", "moderate":
		return RatingMedium
	case "low", "negligible", "unimportant":
		return RatingLow
	case "none":
		return RatingNone
	}
	return ""
}

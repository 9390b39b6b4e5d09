package pages

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

// Bounds of what a page reads from its query string. The audit API bounds its fields
// again; these keep a page from even copying an unbounded value.
const (
	maxQueryString = 8 << 10
	maxField       = 2048
	maxRequestID   = 512
)

// query is a page's query string, parsed and bounded: each known field at most once, at
// most maxField bytes of valid UTF-8 without control characters, spaces trimmed. Fields
// the page does not know are ignored.
type query map[string]string

func parseQuery(raw string, fields ...string) (query, error) {
	if len(raw) > maxQueryString {
		return nil, badRequest("the query string is longer than %d bytes", maxQueryString)
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("the query string is malformed: use the page's form")
	}
	q := query{}
	for _, f := range fields {
		vs := vals[f]
		switch {
		case len(vs) == 0:
			continue
		case len(vs) > 1:
			return nil, badRequest("%s is given %d times: give it once", f, len(vs))
		}
		v := strings.TrimSpace(vs[0])
		if err := checkField(f, v); err != nil {
			return nil, err
		}
		q[f] = v
	}
	return q, nil
}

// checkField refuses an overlong value, invalid UTF-8 and control characters.
func checkField(name, v string) error {
	switch {
	case len(v) > maxField:
		return badRequest("%s is longer than %d bytes", name, maxField)
	case !utf8.ValidString(v):
		return badRequest("%s is not valid UTF-8", name)
	case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return badRequest("%s has control characters", name)
	}
	return nil
}

// Time layouts a filter accepts, all read as UTC unless they carry an offset: what an
// <input type="datetime-local"> sends, a date alone, or RFC 3339.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// parseTime reads a time filter; empty is no filter.
func parseTime(field, v string) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			ts := timestamppb.New(t)
			if ts.CheckValid() != nil {
				return nil, badRequest("%s %q is outside the years 0001-9999", field, short(v))
			}
			return ts, nil
		}
	}
	return nil, badRequest("%s %q is not a time: give YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or RFC 3339", field, short(v))
}

// short cuts a value quoted in a message.
func short(v string) string {
	if len(v) <= 64 {
		return v
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}

// Artifact statuses by the word the search form uses.
var artifactStatuses = map[string]auditv1.ArtifactStatus{
	"":         auditv1.ArtifactStatus_ARTIFACT_STATUS_UNSPECIFIED,
	"promoted": auditv1.ArtifactStatus_ARTIFACT_STATUS_PROMOTED,
	"allowed":  auditv1.ArtifactStatus_ARTIFACT_STATUS_ALLOWED,
	"denied":   auditv1.ArtifactStatus_ARTIFACT_STATUS_DENIED,
	"pending":  auditv1.ArtifactStatus_ARTIFACT_STATUS_PENDING,
	"failed":   auditv1.ArtifactStatus_ARTIFACT_STATUS_FAILED,
}

// statusChoices are the search form's status options, in order.
var statusChoices = []string{"promoted", "allowed", "denied", "pending", "failed"}

// searchForm is the artifact search form as the browser sent it (to fill it in again).
type searchForm struct {
	Source, Commit, Builder, Status, Destination, Since, Until, PageToken string
}

var searchFields = []string{"source", "commit", "builder", "status", "destination", "since", "until", "page_token"}

// parseSearch reads the artifact search page's query string into the form and the
// ListArtifacts request it asks for.
func parseSearch(raw string) (searchForm, *auditv1.ListArtifactsRequest, error) {
	q, err := parseQuery(raw, searchFields...)
	if err != nil {
		return searchForm{}, nil, err
	}
	f := searchForm{Source: q["source"], Commit: q["commit"], Builder: q["builder"], Status: q["status"],
		Destination: q["destination"], Since: q["since"], Until: q["until"], PageToken: q["page_token"]}
	status, ok := artifactStatuses[f.Status]
	if !ok {
		return f, nil, badRequest("status %q is not one of %s", short(f.Status), strings.Join(statusChoices, ", "))
	}
	req := &auditv1.ListArtifactsRequest{SourceRepository: f.Source, Commit: f.Commit, BuilderId: f.Builder,
		Destination: f.Destination, Status: status, PageToken: f.PageToken}
	if req.Since, err = parseTime("since", f.Since); err != nil {
		return f, nil, err
	}
	if req.Until, err = parseTime("until", f.Until); err != nil {
		return f, nil, err
	}
	return f, req, nil
}

// next is the search page of the next page token, with the same filters.
func (f searchForm) next(token string) string {
	v := url.Values{}
	for k, s := range map[string]string{"source": f.Source, "commit": f.Commit, "builder": f.Builder, "status": f.Status,
		"destination": f.Destination, "since": f.Since, "until": f.Until, "page_token": token} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return Prefix + "?" + v.Encode()
}

// affectedForm is the affected-by form as the browser sent it.
type affectedForm struct {
	Vuln, PURL, Ecosystem, Name, Range, PageToken string
	Promoted                                      bool
}

var affectedFields = []string{"vuln", "purl", "ecosystem", "name", "range", "promoted", "page_token"}

// parseAffected reads the affected-by page's query string. The request is nil when the
// form asks nothing yet (the page then shows only the form).
func parseAffected(raw string) (affectedForm, *auditv1.ListAffectedRequest, error) {
	q, err := parseQuery(raw, affectedFields...)
	if err != nil {
		return affectedForm{}, nil, err
	}
	f := affectedForm{Vuln: q["vuln"], PURL: q["purl"], Ecosystem: q["ecosystem"], Name: q["name"], Range: q["range"],
		PageToken: q["page_token"]}
	switch q["promoted"] {
	case "", "0", "false", "off":
	case "1", "true", "on":
		f.Promoted = true
	default:
		return f, nil, badRequest("promoted %q: leave the box unticked or tick it", short(q["promoted"]))
	}
	req := &auditv1.ListAffectedRequest{PromotedOnly: f.Promoted, PageToken: f.PageToken}
	asked := 0
	if f.Vuln != "" {
		asked++
		req.Query = &auditv1.ListAffectedRequest_VulnerabilityId{VulnerabilityId: f.Vuln}
	}
	if f.PURL != "" {
		asked++
		req.Query = &auditv1.ListAffectedRequest_Purl{Purl: f.PURL}
	}
	if f.Ecosystem != "" || f.Name != "" || f.Range != "" {
		asked++
		if f.Ecosystem == "" || f.Name == "" {
			return f, nil, badRequest("a package search needs both an ecosystem and a name (the version range is optional)")
		}
		req.Query = &auditv1.ListAffectedRequest_Package{Package: &auditv1.PackageQuery{
			Ecosystem: f.Ecosystem, Name: f.Name, VersionRange: f.Range}}
	}
	switch {
	case asked == 0:
		return f, nil, nil
	case asked > 1:
		return f, nil, badRequest("give one search: a vulnerability id, a package URL, or an ecosystem and name")
	}
	return f, req, nil
}

// next is the affected-by page of the next page token, with the same search.
func (f affectedForm) next(token string) string {
	v := url.Values{}
	for k, s := range map[string]string{"vuln": f.Vuln, "purl": f.PURL, "ecosystem": f.Ecosystem, "name": f.Name,
		"range": f.Range, "page_token": token} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Promoted {
		v.Set("promoted", "on")
	}
	return Prefix + "affected?" + v.Encode()
}

// digestOf returns the digest an "open an artifact" box names: sha256:<hex> itself, or
// the digest a reference pinned by digest (REPOSITORY@sha256:<hex>) ends with.
func digestOf(artifact string) (string, error) {
	if artifact == "" {
		return "", badRequest("give a digest (sha256:<64 hex>) or a reference pinned by digest (REPOSITORY@sha256:<hex>)")
	}
	d := artifact
	if at := strings.LastIndexByte(artifact, '@'); at >= 0 {
		d = artifact[at+1:]
	}
	if !ledger.ValidDigest(d) {
		return "", badRequest("%q does not name a digest: give sha256:<64 lowercase hex> or REPOSITORY@sha256:<hex>", short(artifact))
	}
	return d, nil
}

// checkRequestID bounds a promotion request id taken from a path.
func checkRequestID(id string) error {
	if id == "" || len(id) > maxRequestID {
		return badRequest("a promotion request id is 1-%d bytes", maxRequestID)
	}
	return checkField("the promotion request id", id)
}

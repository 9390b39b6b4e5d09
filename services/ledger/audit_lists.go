package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/anchore/packageurl-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

// The list RPCs of the audit API: ListArtifacts, ListAffected, ListDecisions.
//
// Their requests are validated here in full (a bad filter is InvalidArgument naming the
// field, in this build too), but the store queries that answer them are not in this
// build: each answers Unimplemented, "not available in this build". To finish them once
// the ledger's queries exist, give auditServer a field of this interface, set it in
// auditHandler from the store (or the service that runs the queries), and in each RPC
// below convert the validated query into the store's request and its answer with
// decisionProto and the converters the answer's types need:
//
//	// what the Connect handlers need beyond ledger.Store
//	type auditQueries interface {
//		ListArtifacts(ctx context.Context, req ledger.ListArtifactsRequest) (ledger.ListArtifactsResponse, error)
//		ListDecisions(ctx context.Context, req ledger.ListDecisionsRequest) (ledger.ListDecisionsResponse, error)
//		// and the affected-artifacts query of the package inventory
//	}

// Page sizes.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxPageToken    = 1024
)

// Bounds of filter fields.
const (
	maxFilterText = 2048
	maxVulnID     = 256
)

// page is a validated page_size and page_token.
type page struct {
	Size  int
	Token string
}

// artifactsQuery is a validated ListArtifactsRequest.
type artifactsQuery struct {
	SourceRepository, Commit, BuilderID, Destination string
	Since, Until                                     time.Time
	// Status is the status asked for; ARTIFACT_STATUS_UNSPECIFIED means any.
	Status auditv1.ArtifactStatus
	Page   page
}

// affectedQuery is a validated ListAffectedRequest: exactly one of VulnerabilityID,
// PURL, or Ecosystem and Name (with an optional VersionRange) is set.
type affectedQuery struct {
	VulnerabilityID string
	PURL            string
	Ecosystem, Name string
	VersionRange    string
	PromotedOnly    bool
	Page            page
}

// decisionsQuery is a validated ListDecisionsRequest.
type decisionsQuery struct {
	// Digest is the artifact's digest, or empty for any.
	Digest       string
	Destination  string
	PolicyDigest string
	// Verdict is the verdict asked for, or empty for any.
	Verdict      ledger.Verdict
	Since, Until time.Time
	Page         page
}

func (a *auditServer) ListArtifacts(ctx context.Context, req *connect.Request[auditv1.ListArtifactsRequest]) (*connect.Response[auditv1.ListArtifactsResponse], error) {
	if _, err := parseArtifactsQuery(req.Msg); err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	return nil, a.s.connectError(ctx, req.Spec().Procedure,
		fmt.Errorf("ListArtifacts is %w: this ledger does not have the artifact list query yet", errNotInThisBuild))
}

func (a *auditServer) ListAffected(ctx context.Context, req *connect.Request[auditv1.ListAffectedRequest]) (*connect.Response[auditv1.ListAffectedResponse], error) {
	if _, err := parseAffectedQuery(req.Msg); err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	return nil, a.s.connectError(ctx, req.Spec().Procedure,
		fmt.Errorf("ListAffected is %w: this ledger does not have the package inventory query yet", errNotInThisBuild))
}

func (a *auditServer) ListDecisions(ctx context.Context, req *connect.Request[auditv1.ListDecisionsRequest]) (*connect.Response[auditv1.ListDecisionsResponse], error) {
	if _, err := parseDecisionsQuery(req.Msg); err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	return nil, a.s.connectError(ctx, req.Spec().Procedure,
		fmt.Errorf("ListDecisions is %w: this ledger does not have the decision list query yet", errNotInThisBuild))
}

// invalid returns an ErrInvalid error.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ledger.ErrInvalid}, args...)...)
}

func parsePage(size int32, token string) (page, error) {
	switch {
	case size < 0:
		return page{}, invalid("page_size %d is negative: give 1-%d, or 0 for %d", size, maxPageSize, defaultPageSize)
	case len(token) > maxPageToken:
		return page{}, invalid("page_token is longer than %d bytes: pass the next_page_token of the previous answer", maxPageToken)
	case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return page{}, invalid("page_token has characters no page token has: pass the next_page_token of the previous answer")
	}
	p := page{Size: int(size), Token: token}
	if p.Size == 0 {
		p.Size = defaultPageSize
	}
	// A larger page is coerced (AIP-158): the caller pages on.
	p.Size = min(p.Size, maxPageSize)
	return p, nil
}

// parseTimeRange validates since and until (either may be unset).
func parseTimeRange(since, until *timestamppb.Timestamp) (time.Time, time.Time, error) {
	var s, u time.Time
	if since != nil {
		if err := since.CheckValid(); err != nil {
			return s, u, invalid("since: %v", err)
		}
		s = since.AsTime()
	}
	if until != nil {
		if err := until.CheckValid(); err != nil {
			return s, u, invalid("until: %v", err)
		}
		u = until.AsTime()
	}
	if !s.IsZero() && !u.IsZero() && !s.Before(u) {
		return s, u, invalid("since (%s) must be before until (%s)", s.Format(time.RFC3339), u.Format(time.RFC3339))
	}
	return s, u, nil
}

// checkText refuses a filter longer than max bytes or with control characters.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid("%s is longer than %d bytes", field, max)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return invalid("%s has control characters", field)
	}
	return nil
}

func parseArtifactsQuery(m *auditv1.ListArtifactsRequest) (artifactsQuery, error) {
	q := artifactsQuery{
		SourceRepository: m.GetSourceRepository(), Commit: m.GetCommit(), BuilderID: m.GetBuilderId(),
		Destination: m.GetDestination(), Status: m.GetStatus(),
	}
	for _, f := range []struct{ name, value string }{
		{"source_repository", q.SourceRepository}, {"commit", q.Commit}, {"builder_id", q.BuilderID}, {"destination", q.Destination},
	} {
		if err := checkText(f.name, f.value, maxFilterText); err != nil {
			return q, err
		}
	}
	if _, known := auditv1.ArtifactStatus_name[int32(q.Status)]; !known {
		return q, invalid("status %d is not an ArtifactStatus", q.Status)
	}
	var err error
	if q.Since, q.Until, err = parseTimeRange(m.GetSince(), m.GetUntil()); err != nil {
		return q, err
	}
	q.Page, err = parsePage(m.GetPageSize(), m.GetPageToken())
	return q, err
}

func parseAffectedQuery(m *auditv1.ListAffectedRequest) (affectedQuery, error) {
	q := affectedQuery{PromotedOnly: m.GetPromotedOnly()}
	switch query := m.GetQuery().(type) {
	case *auditv1.ListAffectedRequest_VulnerabilityId:
		id := query.VulnerabilityId
		if id == "" || len(id) > maxVulnID || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return q, invalid("vulnerability_id %q must be 1-%d printable ASCII bytes without spaces (CVE-..., GHSA-...)", truncateText(id), maxVulnID)
		}
		q.VulnerabilityID = id
	case *auditv1.ListAffectedRequest_Purl:
		if err := checkText("purl", query.Purl, maxFilterText); err != nil {
			return q, err
		}
		if _, err := packageurl.FromString(query.Purl); err != nil || !strings.HasPrefix(query.Purl, "pkg:") {
			return q, invalid("purl %q is not a package URL (pkg:TYPE/NAMESPACE/NAME@VERSION): %v", truncateText(query.Purl), err)
		}
		q.PURL = query.Purl
	case *auditv1.ListAffectedRequest_Package:
		pkg := query.Package
		if pkg.GetEcosystem() == "" || pkg.GetName() == "" {
			return q, invalid("package needs an ecosystem and a name")
		}
		for _, f := range []struct{ name, value string }{
			{"package.ecosystem", pkg.GetEcosystem()}, {"package.name", pkg.GetName()}, {"package.version_range", pkg.GetVersionRange()},
		} {
			if err := checkText(f.name, f.value, maxFilterText); err != nil {
				return q, err
			}
		}
		q.Ecosystem, q.Name, q.VersionRange = pkg.GetEcosystem(), pkg.GetName(), pkg.GetVersionRange()
	default:
		return q, invalid("query is required: give vulnerability_id, purl, or package")
	}
	var err error
	q.Page, err = parsePage(m.GetPageSize(), m.GetPageToken())
	return q, err
}

func parseDecisionsQuery(m *auditv1.ListDecisionsRequest) (decisionsQuery, error) {
	q := decisionsQuery{Destination: m.GetDestination(), PolicyDigest: m.GetPolicyDigest()}
	var err error
	if m.GetArtifact() != "" {
		if q.Digest, err = artifactDigest("artifact", m.GetArtifact()); err != nil {
			return q, err
		}
	}
	if err := checkText("destination", q.Destination, maxFilterText); err != nil {
		return q, err
	}
	if q.PolicyDigest != "" {
		if err := ledger.CheckDigest("policy_digest", q.PolicyDigest); err != nil {
			return q, err
		}
	}
	switch m.GetVerdict() {
	case auditv1.Verdict_VERDICT_UNSPECIFIED:
	case auditv1.Verdict_VERDICT_ALLOWED:
		q.Verdict = ledger.Allowed
	case auditv1.Verdict_VERDICT_DENIED:
		q.Verdict = ledger.Denied
	default:
		return q, invalid("verdict %d is not a Verdict", m.GetVerdict())
	}
	if q.Since, q.Until, err = parseTimeRange(m.GetSince(), m.GetUntil()); err != nil {
		return q, err
	}
	q.Page, err = parsePage(m.GetPageSize(), m.GetPageToken())
	return q, err
}

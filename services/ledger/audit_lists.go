package ledger

import (
	"context"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/anchore/packageurl-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

// The list RPCs of the audit API: ListArtifacts, ListAffected, ListDecisions. Each
// request is checked here for what the proto says (a bad filter is InvalidArgument
// naming the field), turned into the store's (or Affected's) request, which checks the
// rest, and answered in the caller's scope (callerScope).

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
	q, err := parseArtifactsQuery(req.Msg)
	if err == nil {
		err = a.s.authorizeList(ctx)
	}
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	lr := ledger.ListArtifactsRequest{
		SourceRepository: q.SourceRepository, Commit: q.Commit, BuilderID: q.BuilderID, Destination: q.Destination,
		Since: q.Since, Until: q.Until, Status: artifactStatusFilter(q.Status), Scope: callerScope(ctx),
		Limit: q.Page.Size, Cursor: q.Page.Token,
	}
	ans, err := a.s.store.ListArtifacts(ctx, lr)
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	out := &auditv1.ListArtifactsResponse{Artifacts: make([]*auditv1.ArtifactSummary, 0, len(ans.Artifacts)), NextPageToken: ans.NextCursor}
	for _, s := range ans.Artifacts {
		out.Artifacts = append(out.Artifacts, artifactSummaryProto(s))
	}
	return connect.NewResponse(out), nil
}

func (a *auditServer) ListAffected(ctx context.Context, req *connect.Request[auditv1.ListAffectedRequest]) (*connect.Response[auditv1.ListAffectedResponse], error) {
	ar, err := parseAffectedQuery(req.Msg)
	if err == nil {
		err = a.s.authorizeList(ctx)
	}
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	ar.Scope = callerScope(ctx)
	ans, err := Affected(ctx, a.s.store, ar)
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	out := &auditv1.ListAffectedResponse{Artifacts: make([]*auditv1.AffectedArtifact, 0, len(ans.Artifacts)), NextPageToken: ans.NextCursor}
	for _, art := range ans.Artifacts {
		out.Artifacts = append(out.Artifacts, affectedArtifactProto(art))
	}
	return connect.NewResponse(out), nil
}

func (a *auditServer) ListDecisions(ctx context.Context, req *connect.Request[auditv1.ListDecisionsRequest]) (*connect.Response[auditv1.ListDecisionsResponse], error) {
	q, err := parseDecisionsQuery(req.Msg)
	if err == nil {
		err = a.s.authorizeList(ctx)
	}
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	ans, err := a.s.store.ListDecisions(ctx, ledger.ListDecisionsRequest{
		Digest: q.Digest, Destination: q.Destination, Verdict: q.Verdict, PolicyDigest: q.PolicyDigest,
		Since: q.Since, Until: q.Until, Scope: callerScope(ctx), Limit: q.Page.Size, Cursor: q.Page.Token,
	})
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	out := &auditv1.ListDecisionsResponse{Decisions: make([]*auditv1.Decision, 0, len(ans.Decisions)), NextPageToken: ans.NextCursor}
	for _, d := range ans.Decisions {
		idx := int64(-1)
		if e, err := a.s.store.LogEntryByKey(ctx, bundle.KindDecision, d.EventID); err == nil {
			idx = e.Index
		}
		out.Decisions = append(out.Decisions, decisionProto(d, idx))
	}
	return connect.NewResponse(out), nil
}

// artifactStatusFilter is the store's status for a requested one; "" for any.
func artifactStatusFilter(s auditv1.ArtifactStatus) ledger.ArtifactStatus {
	switch s {
	case auditv1.ArtifactStatus_ARTIFACT_STATUS_PROMOTED:
		return ledger.StatusPromoted
	case auditv1.ArtifactStatus_ARTIFACT_STATUS_DENIED:
		return ledger.StatusDenied
	case auditv1.ArtifactStatus_ARTIFACT_STATUS_ALLOWED:
		return ledger.StatusAllowed
	case auditv1.ArtifactStatus_ARTIFACT_STATUS_PENDING:
		return ledger.StatusPending
	case auditv1.ArtifactStatus_ARTIFACT_STATUS_FAILED:
		return ledger.StatusFailed
	}
	return ""
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

// parseAffectedQuery checks the request's shape; Affected checks its content.
func parseAffectedQuery(m *auditv1.ListAffectedRequest) (AffectedRequest, error) {
	q := AffectedRequest{PromotedOnly: m.GetPromotedOnly()}
	switch query := m.GetQuery().(type) {
	case *auditv1.ListAffectedRequest_VulnerabilityId:
		id := query.VulnerabilityId
		if id == "" || len(id) > maxVulnID || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return q, invalid("vulnerability_id %q must be 1-%d printable ASCII bytes without spaces (CVE-..., GHSA-...)", truncateText(id), maxVulnID)
		}
		q.VulnID = id
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
		q.Ecosystem, q.Name, q.Range = pkg.GetEcosystem(), pkg.GetName(), pkg.GetVersionRange()
	default:
		return q, invalid("query is required: give vulnerability_id, purl, or package")
	}
	p, err := parsePage(m.GetPageSize(), m.GetPageToken())
	q.Limit, q.Cursor = min(p.Size, MaxAffectedLimit), p.Token
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

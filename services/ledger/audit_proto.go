package ledger

import (
	"time"

	"github.com/anchore/packageurl-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/auth"

	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

// The audit API's messages from the ledger's records. Field meanings are those of the
// REST documents in json.go; lists are never nil, unknown times are nil.

// timestampProto is t, or nil when t is unknown.
func timestampProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// nonNil returns items, or an empty list for nil.
func nonNil(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}

// provenanceProto converts a provenance and the log index of each of its decisions.
func provenanceProto(p *ledger.Provenance, decisionLog []int64) *auditv1.Provenance {
	out := &auditv1.Provenance{
		Digest: p.Digest, Image: p.Image(),
		Attestations: make([]*auditv1.Attestation, 0, len(p.Attestations)),
		Scans:        make([]*auditv1.Scan, 0, len(p.Scans)),
		Decisions:    make([]*auditv1.Decision, 0, len(p.Decisions)),
		Promotions:   make([]*auditv1.Promotion, 0, len(p.Promotions)),
		Timeline:     make([]*auditv1.TimelineEvent, 0, len(p.Timeline)),
	}
	if b := p.Build; b != nil {
		out.Build = &auditv1.Build{
			Image: b.Image, SourceRepository: b.SourceRepository, SourceRef: b.SourceRef, Commit: b.Commit,
			BuilderId: b.BuilderID, BuildType: b.BuildType, InvocationId: b.InvocationID,
			StartedAt: timestampProto(b.StartedAt), FinishedAt: timestampProto(b.FinishedAt), EventId: b.EventID,
		}
	}
	for _, a := range p.Attestations {
		out.Attestations = append(out.Attestations, &auditv1.Attestation{
			PredicateType: a.PredicateType, KeyIds: nonNil(a.KeyIDs), EnvelopeDigest: a.EnvelopeDigest,
			MediaType: a.Envelope.MediaType, Size: a.Envelope.Size, Attachment: a.Attachment,
			RecordedAt: timestampProto(a.RecordedAt), LogIndex: a.LogIndex,
		})
	}
	for _, s := range p.Scans {
		out.Scans = append(out.Scans, &auditv1.Scan{
			Status: scanStatusProto(s.Status), SbomDigest: s.SBOMDigest, PackageCount: s.PackageCount, Detail: s.Detail,
			Scanner: s.Scanner, ScannedAt: timestampProto(s.ScannedAt), EventId: s.EventID,
		})
	}
	for i, d := range p.Decisions {
		idx := int64(-1)
		if i < len(decisionLog) {
			idx = decisionLog[i]
		}
		out.Decisions = append(out.Decisions, decisionProto(d, idx))
	}
	for _, pr := range p.Promotions {
		out.Promotions = append(out.Promotions, promotionProto(pr))
	}
	for _, e := range p.Timeline {
		t := &auditv1.TimelineEvent{
			Time: timestampProto(e.Time), Type: e.Type, Id: e.ID, Source: e.Source, TraceId: e.TraceID,
			Sequence: e.StreamSequence,
		}
		if dl := e.DeadLetter; dl != nil {
			t.DeadLetter = &auditv1.DeadLetter{Consumer: dl.Consumer, Reason: dl.Reason, OriginalId: dl.OriginalID, Attempts: dl.Attempts}
		}
		out.Timeline = append(out.Timeline, t)
	}
	return out
}

// decisionProto converts a decision at log position logIndex (-1: none).
func decisionProto(d ledger.Decision, logIndex int64) *auditv1.Decision {
	return &auditv1.Decision{
		RequestId: d.RequestID, Digest: d.Digest, Image: d.Image, Destination: d.Destination,
		Verdict: verdictProto(d.Verdict), Reasons: nonNil(d.Reasons), PolicyName: d.PolicyName,
		PolicyDigest: d.PolicyDigest, AttestationDigests: nonNil(d.AttestationDigests),
		DecidedAt: timestampProto(d.DecidedAt), LogIndex: logIndex, EventId: d.EventID,
	}
}

func promotionProto(p ledger.Promotion) *auditv1.Promotion {
	return &auditv1.Promotion{
		RequestId: p.RequestID, Digest: p.Digest, SourceImage: p.SourceImage, Destination: p.Destination,
		DestinationImage: p.DestinationImage, Status: promotionStatusProto(p.Status), Error: p.Error,
		RequestedBy: p.RequestedBy, RequestedAt: timestampProto(p.RequestedAt), DecidedAt: timestampProto(p.DecidedAt),
		FinishedAt: timestampProto(p.FinishedAt),
	}
}

func scanStatusProto(s ledger.ScanStatus) auditv1.ScanStatus {
	switch s {
	case ledger.ScanComplete:
		return auditv1.ScanStatus_SCAN_STATUS_COMPLETE
	case ledger.ScanIncomplete:
		return auditv1.ScanStatus_SCAN_STATUS_INCOMPLETE
	case ledger.ScanFailed:
		return auditv1.ScanStatus_SCAN_STATUS_FAILED
	}
	return auditv1.ScanStatus_SCAN_STATUS_UNSPECIFIED
}

// verdictProto converts a verdict. The ledger records no third value; an unknown one
// would show as unspecified, never as allowed.
func verdictProto(v ledger.Verdict) auditv1.Verdict {
	switch v {
	case ledger.Allowed:
		return auditv1.Verdict_VERDICT_ALLOWED
	case ledger.Denied:
		return auditv1.Verdict_VERDICT_DENIED
	}
	return auditv1.Verdict_VERDICT_UNSPECIFIED
}

func promotionStatusProto(s ledger.PromotionStatusValue) auditv1.PromotionStatus {
	switch s {
	case ledger.PromotionRequested:
		return auditv1.PromotionStatus_PROMOTION_STATUS_REQUESTED
	case ledger.PromotionAllowed:
		return auditv1.PromotionStatus_PROMOTION_STATUS_ALLOWED
	case ledger.PromotionDenied:
		return auditv1.PromotionStatus_PROMOTION_STATUS_DENIED
	case ledger.PromotionCompleted:
		return auditv1.PromotionStatus_PROMOTION_STATUS_COMPLETED
	case ledger.PromotionFailed:
		return auditv1.PromotionStatus_PROMOTION_STATUS_FAILED
	}
	return auditv1.PromotionStatus_PROMOTION_STATUS_UNSPECIFIED
}

// artifactSummaryProto converts one row of an artifact listing.
func artifactSummaryProto(s ledger.ArtifactSummary) *auditv1.ArtifactSummary {
	return &auditv1.ArtifactSummary{
		Digest: s.Digest, Image: s.Image, SourceRepository: s.SourceRepository, Commit: s.Commit, BuilderId: s.BuilderID,
		BuiltAt: timestampProto(s.BuiltAt), RecordedAt: timestampProto(s.RecordedAt), PredicateTypes: nonNil(s.PredicateTypes),
		ScanStatus: scanStatusProto(s.ScanStatus), Verdict: verdictProto(s.Verdict), Status: artifactStatusProto(s.Status),
		PromotedImages: nonNil(s.DestinationImages),
	}
}

func artifactStatusProto(s ledger.ArtifactStatus) auditv1.ArtifactStatus {
	switch s {
	case ledger.StatusPromoted:
		return auditv1.ArtifactStatus_ARTIFACT_STATUS_PROMOTED
	case ledger.StatusDenied:
		return auditv1.ArtifactStatus_ARTIFACT_STATUS_DENIED
	case ledger.StatusAllowed:
		return auditv1.ArtifactStatus_ARTIFACT_STATUS_ALLOWED
	case ledger.StatusPending:
		return auditv1.ArtifactStatus_ARTIFACT_STATUS_PENDING
	case ledger.StatusFailed:
		return auditv1.ArtifactStatus_ARTIFACT_STATUS_FAILED
	}
	return auditv1.ArtifactStatus_ARTIFACT_STATUS_UNSPECIFIED
}

// affectedArtifactProto converts one affected artifact: its matches, and where its
// completed promotions put it (the destination image; its repository as destination).
func affectedArtifactProto(a AffectedArtifact) *auditv1.AffectedArtifact {
	out := &auditv1.AffectedArtifact{
		Digest: a.Digest, Image: a.Image, Promoted: a.Promoted,
		Matches:    make([]*auditv1.PackageMatch, 0, len(a.Packages)),
		Promotions: make([]*auditv1.PromotionTarget, 0, len(a.Destinations)),
	}
	for _, p := range a.Packages {
		name := ""
		if u, err := packageurl.FromString(p.PURL); err == nil {
			name = u.Name
		}
		out.Matches = append(out.Matches, &auditv1.PackageMatch{
			Purl: p.PURL, Ecosystem: p.Ecosystem, Name: name, Version: p.Version, VulnerabilityId: p.VulnID,
			FixedVersions: nonNil(p.Fixed),
		})
	}
	for _, d := range a.Destinations {
		repo := d
		if r, err := auth.NormalizeRepository(d); err == nil {
			repo = r
		}
		out.Promotions = append(out.Promotions, &auditv1.PromotionTarget{Destination: repo, DestinationImage: d})
	}
	return out
}

package ledger

import (
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

// The JSON documents the API answers with. Times are RFC 3339 in UTC and left out when
// unknown; lists are [] rather than null when empty.

type errorJSON struct {
	Error string `json:"error"`
	// RequestID names the request in the server's logs (httpsec's request id), when the
	// server assigned one.
	RequestID string `json:"requestId,omitempty"`
}

// ProvenanceJSON is GET /v1/artifacts/{digest}/provenance.
type ProvenanceJSON struct {
	Digest       string            `json:"digest"`
	Image        string            `json:"image"`
	Build        *BuildJSON        `json:"build"`
	Attestations []AttestationJSON `json:"attestations"`
	Scans        []ScanJSON        `json:"scans"`
	Decisions    []DecisionJSON    `json:"decisions"`
	Promotions   []PromotionJSON   `json:"promotions"`
	Timeline     []TimelineJSON    `json:"timeline"`
}

// BuildJSON is the build of an artifact.
type BuildJSON struct {
	Image            string `json:"image"`
	SourceRepository string `json:"sourceRepository"`
	SourceRef        string `json:"sourceRef,omitempty"`
	Commit           string `json:"commit"`
	BuilderID        string `json:"builderId"`
	BuildType        string `json:"buildType"`
	InvocationID     string `json:"invocationId,omitempty"`
	StartedAt        string `json:"startedAt,omitempty"`
	FinishedAt       string `json:"finishedAt,omitempty"`
	EventID          string `json:"eventId"`
}

// AttestationJSON is one verified attestation.
type AttestationJSON struct {
	PredicateType  string   `json:"predicateType"`
	KeyIDs         []string `json:"keyIds"`
	EnvelopeDigest string   `json:"envelopeDigest"`
	MediaType      string   `json:"mediaType,omitempty"`
	Size           int64    `json:"size"`
	Attachment     string   `json:"attachment,omitempty"`
	RecordedAt     string   `json:"recordedAt"`
	LogIndex       int64    `json:"logIndex"`
}

// ScanJSON is one scan.
type ScanJSON struct {
	Status       string `json:"status"`
	SBOMDigest   string `json:"sbomDigest,omitempty"`
	PackageCount int64  `json:"packageCount"`
	Detail       string `json:"detail,omitempty"`
	Scanner      string `json:"scanner,omitempty"`
	ScannedAt    string `json:"scannedAt,omitempty"`
	EventID      string `json:"eventId"`
}

// DecisionJSON is one gate decision.
type DecisionJSON struct {
	RequestID          string   `json:"requestId"`
	Destination        string   `json:"destination"`
	Decision           string   `json:"decision"`
	Reasons            []string `json:"reasons"`
	PolicyName         string   `json:"policyName,omitempty"`
	PolicyDigest       string   `json:"policyDigest"`
	AttestationDigests []string `json:"attestationDigests"`
	DecidedAt          string   `json:"decidedAt"`
	// LogIndex is the decision's position in the append-only log; -1 when it has none.
	LogIndex int64 `json:"logIndex"`
}

// PromotionJSON is one promotion of the artifact.
type PromotionJSON struct {
	RequestID        string `json:"requestId"`
	SourceImage      string `json:"sourceImage,omitempty"`
	Destination      string `json:"destination"`
	DestinationImage string `json:"destinationImage"`
	Status           string `json:"status"`
	Error            string `json:"error"`
	RequestedBy      string `json:"requestedBy,omitempty"`
	RequestedAt      string `json:"requestedAt,omitempty"`
	DecidedAt        string `json:"decidedAt,omitempty"`
	FinishedAt       string `json:"finishedAt,omitempty"`
}

// TimelineJSON is one event in an artifact's history.
type TimelineJSON struct {
	Time     string `json:"time"`
	Type     string `json:"type"`
	ID       string `json:"id"`
	Source   string `json:"source"`
	TraceID  string `json:"traceId"`
	Sequence uint64 `json:"sequence"`
	// DeadLetter says which consumer gave up on an event, and why.
	DeadLetter *DeadLetterJSON `json:"deadLetter,omitempty"`
}

// DeadLetterJSON describes a dead-letter record.
type DeadLetterJSON struct {
	Consumer   string `json:"consumer"`
	Reason     string `json:"reason"`
	OriginalID string `json:"originalId,omitempty"`
	Attempts   uint64 `json:"attempts"`
}

// PromotionStatusJSON is GET /v1/promotions/{id}.
type PromotionStatusJSON struct {
	RequestID        string   `json:"requestId"`
	Digest           string   `json:"digest"`
	Destination      string   `json:"destination"`
	Status           string   `json:"status"`
	Reasons          []string `json:"reasons"`
	PolicyDigest     string   `json:"policyDigest,omitempty"`
	DestinationImage string   `json:"destinationImage"`
	Error            string   `json:"error"`
	RequestedAt      string   `json:"requestedAt,omitempty"`
	DecidedAt        string   `json:"decidedAt,omitempty"`
	FinishedAt       string   `json:"finishedAt,omitempty"`
}

func timeJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func list(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}

func provenanceDoc(p *ledger.Provenance) ProvenanceJSON {
	doc := ProvenanceJSON{
		Digest: p.Digest, Image: p.Image(),
		Attestations: []AttestationJSON{}, Scans: []ScanJSON{}, Decisions: []DecisionJSON{},
		Promotions: []PromotionJSON{}, Timeline: []TimelineJSON{},
	}
	if b := p.Build; b != nil {
		doc.Build = &BuildJSON{
			Image: b.Image, SourceRepository: b.SourceRepository, SourceRef: b.SourceRef, Commit: b.Commit,
			BuilderID: b.BuilderID, BuildType: b.BuildType, InvocationID: b.InvocationID,
			StartedAt: timeJSON(b.StartedAt), FinishedAt: timeJSON(b.FinishedAt), EventID: b.EventID,
		}
	}
	for _, a := range p.Attestations {
		doc.Attestations = append(doc.Attestations, AttestationJSON{
			PredicateType: a.PredicateType, KeyIDs: list(a.KeyIDs), EnvelopeDigest: a.EnvelopeDigest,
			MediaType: a.Envelope.MediaType, Size: a.Envelope.Size, Attachment: a.Attachment,
			RecordedAt: timeJSON(a.RecordedAt), LogIndex: a.LogIndex,
		})
	}
	for _, s := range p.Scans {
		doc.Scans = append(doc.Scans, ScanJSON{
			Status: string(s.Status), SBOMDigest: s.SBOMDigest, PackageCount: s.PackageCount, Detail: s.Detail,
			Scanner: s.Scanner, ScannedAt: timeJSON(s.ScannedAt), EventID: s.EventID,
		})
	}
	for _, d := range p.Decisions {
		doc.Decisions = append(doc.Decisions, DecisionJSON{
			RequestID: d.RequestID, Destination: d.Destination, Decision: string(d.Verdict), Reasons: list(d.Reasons),
			PolicyName: d.PolicyName, PolicyDigest: d.PolicyDigest, AttestationDigests: list(d.AttestationDigests),
			DecidedAt: timeJSON(d.DecidedAt), LogIndex: -1,
		})
	}
	for _, pr := range p.Promotions {
		doc.Promotions = append(doc.Promotions, PromotionJSON{
			RequestID: pr.RequestID, SourceImage: pr.SourceImage, Destination: pr.Destination,
			DestinationImage: pr.DestinationImage, Status: string(pr.Status), Error: pr.Error, RequestedBy: pr.RequestedBy,
			RequestedAt: timeJSON(pr.RequestedAt), DecidedAt: timeJSON(pr.DecidedAt), FinishedAt: timeJSON(pr.FinishedAt),
		})
	}
	for _, e := range p.Timeline {
		t := TimelineJSON{
			Time: timeJSON(e.Time), Type: e.Type, ID: e.ID, Source: e.Source, TraceID: e.TraceID, Sequence: e.StreamSequence,
		}
		if dl := e.DeadLetter; dl != nil {
			t.DeadLetter = &DeadLetterJSON{Consumer: dl.Consumer, Reason: dl.Reason, OriginalID: dl.OriginalID, Attempts: dl.Attempts}
		}
		doc.Timeline = append(doc.Timeline, t)
	}
	return doc
}

func promotionStatusDoc(st *ledger.PromotionState) PromotionStatusJSON {
	p := st.Promotion
	doc := PromotionStatusJSON{
		RequestID: p.RequestID, Digest: p.Digest, Destination: p.Destination, Status: string(p.Status),
		Reasons: []string{}, DestinationImage: p.DestinationImage, Error: p.Error,
		RequestedAt: timeJSON(p.RequestedAt), DecidedAt: timeJSON(p.DecidedAt), FinishedAt: timeJSON(p.FinishedAt),
	}
	if d := st.Decision; d != nil {
		doc.Reasons = list(d.Reasons)
		doc.PolicyDigest = d.PolicyDigest
	}
	return doc
}

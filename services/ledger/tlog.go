package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/custody-dev/custody/pkg/ledger"
)

// Log entry kinds.
const (
	LogKindAttestation = "attestation"
	LogKindDecision    = "decision"
)

// AttestationLogEntry is what the append-only log records of a verified attestation.
// Its JSON (fields in this order, key ids sorted, no insignificant space) is the entry.
type AttestationLogEntry struct {
	Kind           string   `json:"kind"`
	EnvelopeDigest string   `json:"envelopeDigest"`
	SubjectDigest  string   `json:"subjectDigest"`
	PredicateType  string   `json:"predicateType"`
	KeyIDs         []string `json:"keyIds"`
}

// DecisionLogEntry is what the append-only log records of a gate decision.
type DecisionLogEntry struct {
	Kind               string   `json:"kind"`
	RequestID          string   `json:"requestId"`
	Digest             string   `json:"digest"`
	Verdict            string   `json:"verdict"`
	PolicyDigest       string   `json:"policyDigest"`
	AttestationDigests []string `json:"attestationDigests"`
}

// logAttestation appends a's entry to the log, keyed on envelope and subject digest,
// and returns its index.
func (s *Service) logAttestation(ctx context.Context, a ledger.Attestation) (int64, error) {
	keyIDs := slices.Compact(slices.Sorted(slices.Values(a.KeyIDs)))
	if keyIDs == nil {
		keyIDs = []string{}
	}
	return s.appendLog(ctx, LogKindAttestation, a.EnvelopeDigest+" "+a.SubjectDigest, AttestationLogEntry{
		Kind: LogKindAttestation, EnvelopeDigest: a.EnvelopeDigest, SubjectDigest: a.SubjectDigest,
		PredicateType: a.PredicateType, KeyIDs: keyIDs,
	})
}

// logDecision appends d's entry to the log, keyed on the decision event's id (the
// decision's own key), and returns its index.
func (s *Service) logDecision(ctx context.Context, d ledger.Decision) (int64, error) {
	atts := d.AttestationDigests
	if atts == nil {
		atts = []string{}
	}
	return s.appendLog(ctx, LogKindDecision, d.EventID, DecisionLogEntry{
		Kind: LogKindDecision, RequestID: d.RequestID, Digest: d.Digest, Verdict: string(d.Verdict),
		PolicyDigest: d.PolicyDigest, AttestationDigests: atts,
	})
}

func (s *Service) appendLog(ctx context.Context, kind, key string, entry any) (int64, error) {
	body, err := json.Marshal(entry)
	if err != nil {
		return 0, fmt.Errorf("encode %s log entry: %w", kind, err)
	}
	resp, err := s.store.AppendLog(ctx, ledger.AppendLogRequest{Kind: kind, Key: key, Entry: body})
	if err != nil {
		return 0, fmt.Errorf("append %s to the log: %w", kind, err)
	}
	return resp.Index, nil
}

package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/ledger"
)

// The log's entries are the JSON of bundle.AttestationLeaf and bundle.DecisionLeaf, the
// types the offline bundle verifier parses them with, so the two cannot drift apart.
// An entry is json.Marshal of its leaf (fields in declaration order, no insignificant
// space) with key ids sorted and absent lists as [].

// logAttestation appends a's entry to the log, keyed on envelope and subject digest,
// and returns its index.
func (s *Service) logAttestation(ctx context.Context, a ledger.Attestation) (int64, error) {
	keyIDs := slices.Compact(slices.Sorted(slices.Values(a.KeyIDs)))
	if keyIDs == nil {
		keyIDs = []string{}
	}
	return s.appendLog(ctx, bundle.KindAttestation, a.EnvelopeDigest+" "+a.SubjectDigest, bundle.AttestationLeaf{
		Kind: bundle.KindAttestation, EnvelopeDigest: a.EnvelopeDigest, SubjectDigest: a.SubjectDigest,
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
	return s.appendLog(ctx, bundle.KindDecision, d.EventID, bundle.DecisionLeaf{
		Kind: bundle.KindDecision, RequestID: d.RequestID, Digest: d.Digest, Verdict: string(d.Verdict),
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

package ledger

import (
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

// attestationLogEntry is a's log entry, keyed on envelope and subject digest.
func attestationLogEntry(a ledger.Attestation) (ledger.AppendLogRequest, error) {
	keyIDs := slices.Compact(slices.Sorted(slices.Values(a.KeyIDs)))
	if keyIDs == nil {
		keyIDs = []string{}
	}
	return logEntry(bundle.KindAttestation, a.EnvelopeDigest+" "+a.SubjectDigest, bundle.AttestationLeaf{
		Kind: bundle.KindAttestation, EnvelopeDigest: a.EnvelopeDigest, SubjectDigest: a.SubjectDigest,
		PredicateType: a.PredicateType, KeyIDs: keyIDs,
	})
}

// decisionLogEntry is d's log entry, keyed on the decision event's id (the decision's
// own key).
func decisionLogEntry(d ledger.Decision) (ledger.AppendLogRequest, error) {
	atts := d.AttestationDigests
	if atts == nil {
		atts = []string{}
	}
	return logEntry(bundle.KindDecision, d.EventID, bundle.DecisionLeaf{
		Kind: bundle.KindDecision, RequestID: d.RequestID, Digest: d.Digest, Verdict: string(d.Verdict),
		PolicyDigest: d.PolicyDigest, AttestationDigests: atts,
	})
}

func logEntry(kind, key string, entry any) (ledger.AppendLogRequest, error) {
	body, err := json.Marshal(entry)
	if err != nil {
		return ledger.AppendLogRequest{}, fmt.Errorf("encode %s log entry: %w", kind, err)
	}
	req := ledger.AppendLogRequest{Kind: kind, Key: key, Entry: body}
	if err := req.Validate(); err != nil {
		return ledger.AppendLogRequest{}, err
	}
	return req, nil
}

package ledger

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/tlog"
)

// PatternBundle serves an artifact's offline evidence bundle (package bundle).
const PatternBundle = "GET /v1/artifacts/{digest}/bundle"

// getBundle answers the evidence bundle of a digest: its envelopes from the blob
// store, the keys that signed them, a checkpoint signed now, an inclusion proof for
// every log entry of its attestations and decisions, and its decisions and promotions
// under a records note signed with the log key.
func (s *Service) getBundle(w http.ResponseWriter, r *http.Request) {
	digest := r.PathValue("digest")
	if err := ledger.CheckDigest("artifact digest", digest); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	body, err := s.bundleDocument(ctx, digest)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", bundle.MediaType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// bundleDocument is the bundle of digest as both APIs serve it: compact JSON and a
// final newline.
func (s *Service) bundleDocument(ctx context.Context, digest string) ([]byte, error) {
	if s.logSigner == nil {
		return nil, errNoLogKey
	}
	b, err := s.buildBundle(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", digest, err)
	}
	body, err := b.Marshal()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", digest, err)
	}
	return append(body, '\n'), nil
}

func (s *Service) buildBundle(ctx context.Context, digest string) (*bundle.Bundle, error) {
	p, err := s.store.Provenance(ctx, digest)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("nothing is recorded about artifact %s: %w", digest, err)
	}
	if err != nil {
		return nil, err
	}
	if err := s.authorizeArtifact(ctx, p); err != nil {
		return nil, err
	}
	b := &bundle.Bundle{
		MediaType: bundle.MediaType, Digest: digest, LogKey: s.logKey, Keys: []bundle.Key{},
		Attestations: []bundle.Attestation{}, Decisions: []bundle.Decision{}, Promotions: []bundle.Promotion{},
		LogEntries: []bundle.LogEntry{},
	}
	var entries []ledger.LogEntry
	var keyIDs []string
	for _, a := range p.Attestations {
		e, err := s.store.LogEntryByKey(ctx, bundle.KindAttestation, a.EnvelopeDigest+" "+a.SubjectDigest)
		if err != nil {
			return nil, fmt.Errorf("log entry of attestation %s: %w", a.EnvelopeDigest, err)
		}
		env, err := s.blobs.Get(ctx, a.Envelope.Digest)
		if err != nil {
			return nil, fmt.Errorf("envelope %s: %w", a.Envelope.Digest, err)
		}
		entries = append(entries, e)
		keyIDs = append(keyIDs, a.KeyIDs...)
		b.Attestations = append(b.Attestations, bundle.Attestation{PredicateType: a.PredicateType, Envelope: env, LogIndex: e.Index})
	}
	for _, d := range p.Decisions {
		e, err := s.store.LogEntryByKey(ctx, bundle.KindDecision, d.EventID)
		if err != nil {
			return nil, fmt.Errorf("log entry of decision %s: %w", d.EventID, err)
		}
		entries = append(entries, e)
		b.Decisions = append(b.Decisions, bundle.Decision{
			RequestID: d.RequestID, Verdict: string(d.Verdict), PolicyDigest: d.PolicyDigest,
			AttestationDigests: list(d.AttestationDigests), LogIndex: e.Index, Destination: d.Destination,
			PolicyName: d.PolicyName, Reasons: list(d.Reasons), DecidedAt: timeJSON(d.DecidedAt),
		})
	}
	for _, pr := range p.Promotions {
		b.Promotions = append(b.Promotions, bundle.Promotion{
			RequestID: pr.RequestID, Status: string(pr.Status), SourceImage: pr.SourceImage, Destination: pr.Destination,
			DestinationImage: pr.DestinationImage, Error: pr.Error, RequestedBy: pr.RequestedBy,
			RequestedAt: timeJSON(pr.RequestedAt), DecidedAt: timeJSON(pr.DecidedAt), FinishedAt: timeJSON(pr.FinishedAt),
		})
	}
	for _, k := range s.verifier.TrustedKeys() {
		if !slices.Contains(keyIDs, k.ID) || slices.ContainsFunc(b.Keys, func(bk bundle.Key) bool { return bk.KeyID == k.ID }) {
			continue
		}
		der, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil {
			return nil, fmt.Errorf("encode key %s: %w", k.ID, err)
		}
		b.Keys = append(b.Keys, bundle.Key{KeyID: k.ID, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	}

	// The checkpoint is taken after the entries were found: the log only grows, so it
	// covers all of them.
	size, err := s.store.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("log size: %w", err)
	}
	hashes, err := s.store.LogLeafHashes(ctx, size)
	if err != nil {
		return nil, fmt.Errorf("log leaf hashes: %w", err)
	}
	root, err := tlog.Root(hashes)
	if err != nil {
		return nil, fmt.Errorf("log root: %w", err)
	}
	cp := tlog.Checkpoint{Origin: s.logSigner.Name(), Size: uint64(size), Root: root}
	signed, err := tlog.Sign(cp, s.logSigner)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	b.Checkpoint = string(signed)
	slices.SortFunc(entries, func(x, y ledger.LogEntry) int { return cmp.Compare(x.Index, y.Index) })
	entries = slices.CompactFunc(entries, func(x, y ledger.LogEntry) bool { return x.Index == y.Index })
	for _, e := range entries {
		proof, err := tlog.InclusionProof(uint64(e.Index), uint64(size), hashes)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof of log entry %d: %w", e.Index, err)
		}
		be := bundle.LogEntry{Index: e.Index, Entry: e.Entry, Proof: make([]bundle.Base64, len(proof))}
		for i, h := range proof {
			be.Proof[i] = h
		}
		b.LogEntries = append(b.LogEntries, be)
	}
	if err := bundle.SignRecords(b, cp, s.logSigner); err != nil {
		return nil, err
	}
	return b, nil
}

package ledger

import (
	"context"
	"errors"
	"fmt"
	"github.com/custody-dev/custody/pkg/auth"
	"net/http"
	"strconv"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/tlog"
)

// Log API paths (net/http patterns).
const (
	PatternLogCheckpoint  = "GET /v1/log/checkpoint"
	PatternLogKey         = "GET /v1/log/key"
	PatternLogEntries     = "GET /v1/log/entries"
	PatternLogInclusion   = "GET /v1/log/proof/inclusion"
	PatternLogConsistency = "GET /v1/log/proof/consistency"
)

// LogEntriesJSON is the answer of GET /v1/log/entries.
type LogEntriesJSON struct {
	Entries []LogEntryJSON `json:"entries"`
}

// LogEntryJSON is one log entry; byte fields are standard base64.
type LogEntryJSON struct {
	Index     int64  `json:"index"`
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Entry     []byte `json:"entry"`
	LeafHash  []byte `json:"leafHash"`
	CreatedAt string `json:"createdAt"`
}

// InclusionProofJSON is the answer of GET /v1/log/proof/inclusion.
type InclusionProofJSON struct {
	Index    uint64   `json:"index"`
	Size     uint64   `json:"size"`
	LeafHash []byte   `json:"leafHash"`
	Root     []byte   `json:"root"`
	Proof    [][]byte `json:"proof"`
}

// ConsistencyProofJSON is the answer of GET /v1/log/proof/consistency.
type ConsistencyProofJSON struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Root1 []byte   `json:"root1"`
	Root2 []byte   `json:"root2"`
	Proof [][]byte `json:"proof"`
}

// errNoLogKey: the service has no log signing key, so it signs no checkpoint.
var errNoLogKey = fmt.Errorf("%w: this ledger has no log signing key", ledger.ErrNotFound)

func (s *Service) logRoutes(mux *http.ServeMux) {
	mux.HandleFunc(PatternLogCheckpoint, s.getCheckpoint)
	mux.HandleFunc(PatternLogKey, s.getLogKey)
	mux.HandleFunc(PatternLogEntries, s.getLogEntries)
	mux.HandleFunc(PatternLogInclusion, s.getInclusion)
	mux.HandleFunc(PatternLogConsistency, s.getConsistency)
}

func writeText(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (s *Service) getLogKey(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionRead, "log"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.logSigner == nil {
		s.writeError(w, r, errNoLogKey)
		return
	}
	writeText(w, []byte(s.logKey+"\n"))
}

// getCheckpoint signs a checkpoint of the log as it stands.
func (s *Service) getCheckpoint(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionRead, "log"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.logSigner == nil {
		s.writeError(w, r, errNoLogKey)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	size, err := s.store.LogSize(ctx)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("log size: %w", err))
		return
	}
	hashes, err := s.store.LogLeafHashes(ctx, size)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("log leaf hashes: %w", err))
		return
	}
	root, err := tlog.Root(hashes)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("log root: %w", err))
		return
	}
	signed, err := tlog.Sign(tlog.Checkpoint{Origin: s.logSigner.Name(), Size: uint64(size), Root: root}, s.logSigner)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("sign checkpoint: %w", err))
		return
	}
	writeText(w, signed)
}

func (s *Service) getLogEntries(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionRead, "log"); err != nil {
		s.writeError(w, r, err)
		return
	}
	start, err1 := queryInt(r, "start")
	end, err2 := queryInt(r, "end")
	if err := errors.Join(err1, err2); err != nil {
		s.writeError(w, r, err)
		return
	}
	if end > start+ledger.MaxLogPage {
		end = start + ledger.MaxLogPage
	}
	if err := ledger.CheckLogRange(start, end); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	entries, err := s.store.LogEntries(ctx, start, end)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("log entries: %w", err))
		return
	}
	doc := LogEntriesJSON{Entries: make([]LogEntryJSON, 0, len(entries))}
	for _, e := range entries {
		doc.Entries = append(doc.Entries, LogEntryJSON{
			Index: e.Index, Kind: e.Kind, Key: e.Key, Entry: e.Entry, LeafHash: e.LeafHash, CreatedAt: timeJSON(e.CreatedAt),
		})
	}
	writeJSON(w, http.StatusOK, doc)
}

// leafHashes returns the first n leaf hashes, ErrInvalid when the log is shorter.
func (s *Service) leafHashes(ctx context.Context, n int64) ([][]byte, error) {
	size, err := s.store.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("log size: %w", err)
	}
	if n > size {
		return nil, fmt.Errorf("%w: tree size %d is beyond the log's %d entries", ledger.ErrInvalid, n, size)
	}
	return s.store.LogLeafHashes(ctx, n)
}

func (s *Service) getInclusion(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionRead, "log"); err != nil {
		s.writeError(w, r, err)
		return
	}
	index, err1 := queryInt(r, "index")
	size, err2 := queryInt(r, "size")
	if err := errors.Join(err1, err2); err != nil {
		s.writeError(w, r, err)
		return
	}
	if index >= size {
		s.writeError(w, r, fmt.Errorf("%w: index %d must be below size %d", ledger.ErrInvalid, index, size))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	hashes, err := s.leafHashes(ctx, size)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	proof, err := tlog.InclusionProof(uint64(index), uint64(size), hashes)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("inclusion proof: %w", err))
		return
	}
	root, err := tlog.Root(hashes)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("log root: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, InclusionProofJSON{
		Index: uint64(index), Size: uint64(size), LeafHash: hashes[index], Root: root, Proof: proof,
	})
}

func (s *Service) getConsistency(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionRead, "log"); err != nil {
		s.writeError(w, r, err)
		return
	}
	from, err1 := queryInt(r, "from")
	to, err2 := queryInt(r, "to")
	if err := errors.Join(err1, err2); err != nil {
		s.writeError(w, r, err)
		return
	}
	if from > to {
		s.writeError(w, r, fmt.Errorf("%w: from %d must not exceed to %d", ledger.ErrInvalid, from, to))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	hashes, err := s.leafHashes(ctx, to)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	proof, err := tlog.ConsistencyProof(uint64(from), uint64(to), hashes)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("consistency proof: %w", err))
		return
	}
	root1, err1 := tlog.Root(hashes[:from])
	root2, err2 := tlog.Root(hashes)
	if err := errors.Join(err1, err2); err != nil {
		s.writeError(w, r, fmt.Errorf("log root: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, ConsistencyProofJSON{From: uint64(from), To: uint64(to), Root1: root1, Root2: root2, Proof: proof})
}

// queryInt parses a required non-negative decimal query parameter.
func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<53 {
		return 0, fmt.Errorf("%w: query parameter %s=%q must be a non-negative integer", ledger.ErrInvalid, name, truncateText(v))
	}
	return n, nil
}

func truncateText(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

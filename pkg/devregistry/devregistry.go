package devregistry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
)

// maxManifest bounds one manifest body (the OCI distribution spec suggests 4 MiB).
const maxManifest = 4 << 20

// Registry is an http.Handler serving the OCI distribution API from dir.
type Registry struct {
	inner http.Handler

	mu      sync.Mutex // orders manifest writes and their journal lines
	journal *os.File
	written uint64 // journal lines appended

	syncMu sync.Mutex // one fsync at a time
	synced uint64     // journal lines known to be on disk
}

type entry struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

type options struct {
	referrers bool
}

// Option configures a Registry.
type Option func(*options) error

// WithReferrersAPI turns the OCI referrers API (GET /v2/<name>/referrers/<digest>) on or
// off. Default: on, so that Sigstore bundle referrers are stored the way OCI 1.1
// registries store them. Off, the registry behaves like one without the API and clients
// fall back to the referrers tag schema and cosign's .att tags.
func WithReferrersAPI(enabled bool) Option {
	return func(o *options) error { o.referrers = enabled; return nil }
}

// Open serves the registry state kept in dir (created if missing), replaying its journal.
func Open(dir string, opts ...Option) (*Registry, error) {
	o := options{referrers: true}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("dev registry: %w", err)
		}
	}
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("dev registry: %w", err)
	}
	r := &Registry{inner: registry.New(
		registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)),
		registry.WithReferrersSupport(o.referrers),
		registry.Logger(log.New(io.Discard, "", 0)),
	)}
	path := filepath.Join(dir, "manifests.jsonl")
	if err := r.replay(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dev registry: open journal: %w", err)
	}
	r.journal = f
	return r, nil
}

func (r *Registry) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dev registry: open journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 2*maxManifest)
	line := 0
	for sc.Scan() {
		line++
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A torn last line from a crash: stop there, keeping what came before.
			return nil
		}
		req := httptest.NewRequest(e.Method, e.Path, bytes.NewReader(e.Body))
		if e.ContentType != "" {
			req.Header.Set("Content-Type", e.ContentType)
		}
		rec := httptest.NewRecorder()
		r.inner.ServeHTTP(rec, req)
		if rec.Code/100 != 2 && e.Method != http.MethodDelete {
			return fmt.Errorf("dev registry: journal line %d (%s %s) no longer applies: %d %s", line, e.Method, e.Path, rec.Code, strings.TrimSpace(rec.Body.String()))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dev registry: read journal: %w", err)
	}
	return nil
}

func isManifestWrite(req *http.Request) bool {
	return (req.Method == http.MethodPut || req.Method == http.MethodDelete) &&
		strings.HasPrefix(req.URL.Path, "/v2/") && strings.Contains(req.URL.Path, "/manifests/")
}

// ServeHTTP serves the distribution API, journaling successful manifest writes.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !isManifestWrite(req) {
		r.inner.ServeHTTP(w, req)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifest+1))
	if err != nil {
		http.Error(w, "read manifest: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxManifest {
		http.Error(w, "manifest larger than 4 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	// Serialise manifest writes so the journal's order is the registry's order.
	r.mu.Lock()
	rec := httptest.NewRecorder()
	r.inner.ServeHTTP(rec, req)
	var seq uint64
	err = nil
	journal := r.journal
	if rec.Code/100 == 2 {
		err = errors.New("journal closed")
		if journal != nil {
			var line []byte
			if line, err = json.Marshal(entry{Method: req.Method, Path: req.URL.Path, ContentType: req.Header.Get("Content-Type"), Body: body}); err == nil {
				if _, err = journal.Write(append(line, '\n')); err == nil {
					r.written++
					seq = r.written
				}
			}
		}
	}
	r.mu.Unlock()
	if err == nil && seq > 0 {
		err = r.syncThrough(journal, seq)
	}
	if err != nil {
		http.Error(w, "dev registry: journal write failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// syncThrough returns once journal line seq is on disk. Writers that arrive while an
// fsync runs share the next one (group commit), so concurrent pushes are not serialised
// behind one fsync each.
func (r *Registry) syncThrough(journal *os.File, seq uint64) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if r.synced >= seq {
		return nil
	}
	r.mu.Lock()
	target := r.written
	r.mu.Unlock()
	if err := journal.Sync(); err != nil {
		return err
	}
	r.synced = target
	return nil
}

// Close closes the journal. It is safe to call twice.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.journal == nil {
		return nil
	}
	err := r.journal.Close()
	r.journal = nil
	return err
}

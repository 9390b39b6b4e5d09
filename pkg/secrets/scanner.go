package secrets

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultFingerprintKey is the HMAC key fingerprints are made with when no
// WithFingerprintKey option is given. It is public, so a fingerprint made with it lets
// anyone test guesses of the secret; see the package documentation.
const DefaultFingerprintKey = "custody.dev/secrets/fingerprint/v1"

// Default limits.
const (
	DefaultMaxFileBytes       = 8 << 20 // bytes read from each file
	DefaultMaxFindingsPerFile = 100
	DefaultMaxFindings        = 10000
)

// ErrInvalidOption is returned by NewScanner for an option out of range.
var ErrInvalidOption = errors.New("invalid secrets scanner option")

// Option configures a Scanner.
type Option func(*options) error

type options struct {
	key            []byte
	maxFileBytes   int64
	maxPerFile     int
	maxFindings    int
	scanExecutable bool
}

// WithFingerprintKey sets the HMAC key fingerprints are made with (1 to 1024 bytes).
func WithFingerprintKey(key []byte) Option {
	return func(o *options) error {
		if len(key) == 0 || len(key) > 1024 {
			return fmt.Errorf("fingerprint key of %d bytes, want 1 to 1024: %w", len(key), ErrInvalidOption)
		}
		o.key = slices.Clone(key)
		return nil
	}
}

// WithMaxFileBytes sets how many bytes of each file are read (default 8 MiB); the rest
// of a longer file is ignored and the file is counted in Stats.FilesCapped.
func WithMaxFileBytes(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max file bytes %d, want > 0: %w", n, ErrInvalidOption)
		}
		o.maxFileBytes = n
		return nil
	}
}

// WithMaxFindingsPerFile bounds the findings kept for one file (default 100).
func WithMaxFindingsPerFile(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max findings per file %d, want > 0: %w", n, ErrInvalidOption)
		}
		o.maxPerFile = n
		return nil
	}
}

// WithMaxFindings bounds the findings kept for the whole scan (default 10000).
func WithMaxFindings(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max findings %d, want > 0: %w", n, ErrInvalidOption)
		}
		o.maxFindings = n
		return nil
	}
}

// WithoutBinaryKeySearch turns off the search for PEM private keys in binary files
// (executables and files with NUL bytes), which are then skipped like archives.
func WithoutBinaryKeySearch() Option {
	return func(o *options) error {
		o.scanExecutable = false
		return nil
	}
}

// Location says where a file was found.
type Location struct {
	Layer      string // the layer's digest, "sha256:..."
	LayerIndex int    // the layer's index in the image, 0 for the base layer
	Path       string // the file's path in the layer
	// Deleted is copied into every finding in the file: set it when the caller already
	// knows that a later layer deletes the file.
	Deleted bool
}

// Severity ranks findings.
type Severity string

// Severities, from the most to the least severe.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
)

func (s Severity) valid() bool {
	switch s {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow:
		return true
	}
	return false
}

// Finding is one secret found in one file. It never holds the secret.
type Finding struct {
	RuleID     string   `json:"ruleId"`
	Title      string   `json:"title"`
	Severity   Severity `json:"severity"`
	Path       string   `json:"path"`
	Layer      string   `json:"layer"`
	LayerIndex int      `json:"layerIndex"`
	Line       int      `json:"line"` // 1-based line of the keyword that led to the secret
	// Fingerprint is hex(HMAC-SHA256(key, ruleID || 0 || secret)) cut to 32 characters.
	Fingerprint string `json:"fingerprint"`
	// KeyType is the PEM key type for private keys: RSA, EC, DSA, OPENSSH, PGP, PKCS8.
	KeyType string `json:"keyType,omitempty"`
	// Encrypted says whether a private key is encrypted; absent when it cannot be told.
	Encrypted *bool `json:"encrypted,omitempty"`
	// Deleted is true when a later layer deletes the file, so it is absent from the
	// final filesystem but still shipped in the image. The scanner copies it from
	// Location.Deleted; the caller may set it afterwards.
	Deleted bool `json:"deleted,omitempty"`
}

// Stats counts what a scan read.
type Stats struct {
	FilesScanned    int64 `json:"filesScanned"`    // files read as text
	FilesBinary     int64 `json:"filesBinary"`     // binary files searched for PEM keys only
	FilesSkipped    int64 `json:"filesSkipped"`    // files not read (File returned nil, or archive/image magic)
	FilesCapped     int64 `json:"filesCapped"`     // files longer than the per-file cap
	BytesScanned    int64 `json:"bytesScanned"`    // bytes read from scanned and binary files
	FindingsDropped int64 `json:"findingsDropped"` // findings beyond the limits
}

// Report is the result of a scan.
type Report struct {
	Findings  []Finding `json:"findings"`
	Stats     Stats     `json:"stats"`
	Truncated bool      `json:"truncated"` // some findings were dropped by a limit
}

// Scanner finds secrets in files. It is safe for concurrent use.
type Scanner struct {
	opts options
	pool sync.Pool

	filesScanned, filesBinary, filesSkipped, filesCapped, bytesScanned atomic.Int64

	mu       sync.Mutex
	findings []Finding
	seen     map[dedupKey]struct{}
	dropped  int64
}

type dedupKey struct{ fingerprint, path, layer string }

// NewScanner returns a Scanner configured by opts.
func NewScanner(opts ...Option) (*Scanner, error) {
	o := options{
		key:            []byte(DefaultFingerprintKey),
		maxFileBytes:   DefaultMaxFileBytes,
		maxPerFile:     DefaultMaxFindingsPerFile,
		maxFindings:    DefaultMaxFindings,
		scanExecutable: true,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s := &Scanner{opts: o, seen: make(map[dedupKey]struct{})}
	s.pool.New = func() any {
		b := make([]byte, 0, bufferSize)
		return &b
	}
	return s, nil
}

// skipExtensions are compressed archives and media: reading them as text finds nothing.
var skipExtensions = map[string]bool{
	".gz": true, ".tgz": true, ".xz": true, ".txz": true, ".bz2": true, ".zst": true,
	".lz4": true, ".zip": true, ".jar": true, ".war": true, ".ear": true, ".whl": true,
	".egg": true, ".7z": true, ".deb": true, ".rpm": true, ".apk": true,
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".ico": true,
	".bmp": true, ".tif": true, ".tiff": true, ".mp3": true, ".mp4": true, ".ogg": true,
	".wav": true, ".woff": true, ".woff2": true, ".ttf": true, ".otf": true,
	".pyc": true, ".mo": true,
}

// File returns the writer to stream the file at loc (size bytes) into, or nil when the
// file is skipped. Close the writer when the content has been written; findings are
// then added to the scanner. Writes never fail before Close.
func (s *Scanner) File(loc Location, size int64) io.WriteCloser {
	if size == 0 || skipExtensions[strings.ToLower(path.Ext(loc.Path))] {
		s.filesSkipped.Add(1)
		return nil
	}
	return &fileScanner{s: s, loc: loc, line: 1, code: isCodePath(loc.Path), netrc: isNetrc(loc.Path)}
}

// Scan reads r to the end as the file at loc and returns the file's findings (which
// are also added to the scanner). It is File, io.Copy and Close in one call.
func (s *Scanner) Scan(loc Location, r io.Reader) ([]Finding, error) {
	f := &fileScanner{s: s, loc: loc, line: 1, code: isCodePath(loc.Path), netrc: isNetrc(loc.Path)}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("read %s: %w", loc.Path, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return slices.Clone(f.findings), nil
}

func (s *Scanner) fingerprint(ruleID string, secret []byte) string {
	m := hmac.New(sha256.New, s.opts.key)
	m.Write([]byte(ruleID))
	m.Write([]byte{0})
	m.Write(secret)
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// add records a file's findings, deduplicated and bounded.
func (s *Scanner) add(fs []Finding, dropped int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped += dropped
	for _, f := range fs {
		k := dedupKey{f.Fingerprint, f.Path, f.Layer}
		if _, ok := s.seen[k]; ok {
			continue
		}
		if len(s.findings) >= s.opts.maxFindings {
			// Remember dropped findings too, so that a repeat is not counted twice,
			// up to a bound on the memory this takes.
			if len(s.seen) < 4*s.opts.maxFindings {
				s.seen[k] = struct{}{}
			}
			s.dropped++
			continue
		}
		s.seen[k] = struct{}{}
		s.findings = append(s.findings, f)
	}
}

// Report returns the findings so far, sorted by layer index, path, line, rule id and
// fingerprint, and the scan's statistics.
func (s *Scanner) Report() Report {
	s.mu.Lock()
	fs := slices.Clone(s.findings)
	dropped := s.dropped
	s.mu.Unlock()
	sortFindings(fs)
	return Report{
		Findings: fs,
		Stats: Stats{
			FilesScanned:    s.filesScanned.Load(),
			FilesBinary:     s.filesBinary.Load(),
			FilesSkipped:    s.filesSkipped.Load(),
			FilesCapped:     s.filesCapped.Load(),
			BytesScanned:    s.bytesScanned.Load(),
			FindingsDropped: dropped,
		},
		Truncated: dropped > 0,
	}
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.LayerIndex, b.LayerIndex),
			cmp.Compare(a.Layer, b.Layer),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.RuleID, b.RuleID),
			cmp.Compare(a.Fingerprint, b.Fingerprint),
		)
	})
}

// codeExtensions are source files: there an unquoted value is an expression, not a
// literal, so the generic password rule needs a quoted value.
var codeExtensions = map[string]bool{
	".py": true, ".pyi": true, ".js": true, ".mjs": true, ".cjs": true, ".ts": true,
	".jsx": true, ".tsx": true, ".go": true, ".rb": true, ".java": true, ".kt": true,
	".scala": true, ".c": true, ".h": true, ".cc": true, ".cpp": true, ".hpp": true,
	".cs": true, ".php": true, ".pl": true, ".pm": true, ".rs": true, ".swift": true,
	".lua": true, ".tcl": true, ".el": true, ".vim": true, ".m4": true, ".awk": true,
	".groovy": true, ".dart": true, ".r": true, ".jl": true, ".ex": true, ".exs": true,
	".erl": true, ".hs": true, ".ml": true, ".sql": true, ".html": true, ".htm": true,
	".vue": true, ".svelte": true,
}

func isCodePath(p string) bool { return codeExtensions[strings.ToLower(path.Ext(p))] }

func isNetrc(p string) bool {
	b := path.Base(p)
	return b == ".netrc" || b == "_netrc"
}

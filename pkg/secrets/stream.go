package secrets

import (
	"bytes"
	"crypto/sha256"
	"errors"
)

// Window sizes. A rule sees lookBehind bytes before a keyword's start and lookAhead
// bytes from it; the buffer holds one block of new data plus what the next block's
// keywords may need to see.
const (
	blockSize  = 64 << 10
	lookAhead  = 16 << 10
	lookBehind = 1 << 10
	// behind is what a rule may read before a keyword: lookBehind less the longest
	// distance from a keyword's start to the prefilter's byte pair.
	behind     = lookBehind - 32
	bufferSize = blockSize + lookAhead + lookBehind
	headSize   = 8 << 10 // bytes looked at to tell binary files
)

type fileMode uint8

const (
	modeUndecided fileMode = iota
	modeText
	modeBinary // PEM private keys only
	modeSkip
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("secrets: write to a closed file")

// fileScanner streams one file. Bytes [base, base+len(buf)) of the file are in buf;
// the prefilter has run over positions before pf.
type fileScanner struct {
	s     *Scanner
	loc   Location
	code  bool // a source file by extension
	netrc bool

	bufp   *[]byte
	buf    []byte
	base   int64
	pf     int64
	total  int64
	mode   fileMode
	capped bool
	closed bool

	lineAt int64 // the line cursor: offset lineAt starts line number line
	line   int

	findings []Finding
	hashes   []secretHash
	dropped  int64
}

// secretHash ties findings of two rules over the same secret (a GCP key file's PEM key)
// so that only the more specific one is kept. It is never exported.
type secretHash struct {
	idx  int
	rule string
	sum  [32]byte
}

// Write buffers p and scans every full block. It never fails before Close: bytes past
// the per-file cap and bytes of skipped files are accepted and ignored.
func (f *fileScanner) Write(p []byte) (int, error) {
	if f.closed {
		return 0, ErrClosed
	}
	n := len(p)
	if f.mode == modeSkip {
		return n, nil
	}
	if room := f.s.opts.maxFileBytes - f.total; int64(len(p)) > room {
		p = p[:room]
		if !f.capped {
			f.capped = true
			f.s.filesCapped.Add(1)
		}
	}
	f.total += int64(len(p))
	for len(p) > 0 {
		if f.bufp == nil {
			f.bufp = f.s.pool.Get().(*[]byte)
			f.buf = (*f.bufp)[:0]
		}
		k := min(len(p), cap(f.buf)-len(f.buf))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == cap(f.buf) {
			f.process(false)
			if f.mode == modeSkip {
				return n, nil
			}
		}
	}
	return n, nil
}

// Close scans what is buffered and adds the file's findings to the scanner.
func (f *fileScanner) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.process(true)
	if f.bufp != nil {
		*f.bufp = f.buf[:0]
		f.s.pool.Put(f.bufp)
		f.bufp, f.buf = nil, nil
	}
	switch f.mode {
	case modeText:
		f.s.filesScanned.Add(1)
		f.s.bytesScanned.Add(f.total)
	case modeBinary:
		f.s.filesBinary.Add(1)
		f.s.bytesScanned.Add(f.total)
	default:
		f.s.filesSkipped.Add(1)
	}
	f.suppress()
	f.s.add(f.findings, f.dropped)
	return nil
}

// process scans the buffer. Keywords that start before limit are handled now; the
// rest wait for more data, unless this is the end of the file.
func (f *fileScanner) process(eof bool) {
	if f.mode == modeUndecided {
		if len(f.buf) == 0 && eof {
			f.mode = modeSkip
			return
		}
		f.mode = classify(f.buf[:min(len(f.buf), headSize)])
		if f.mode == modeBinary && !f.s.opts.scanExecutable {
			f.mode = modeSkip
		}
	}
	if f.mode == modeSkip {
		f.buf = f.buf[:0]
		return
	}
	n := len(f.buf)
	limit := n
	if !eof {
		limit = n - lookAhead
	}
	from := int(f.pf - f.base)
	if f.mode == modeText {
		f.prefilter(from, limit)
	} else {
		f.binaryKeys(from, limit)
	}
	f.pf = f.base + int64(limit)
	if eof {
		return
	}
	keep := limit - lookBehind
	if keep <= 0 {
		return
	}
	f.advanceLine(f.base + int64(keep))
	copy(f.buf, f.buf[keep:])
	f.buf = f.buf[:n-keep]
	f.base += int64(keep)
}

// prefilter looks for keyword byte pairs at positions [from, limit) of the buffer and
// runs the rules of each keyword found.
func (f *fileScanner) prefilter(from, limit int) {
	b := f.buf
	end := min(limit, len(b)-1)
	if from >= end {
		return
	}
	t := &theTable
	// Positions i and i+1 must be in b: slice so the compiler can drop bounds checks.
	win := b[from : end+1]
	for i := 0; i+1 < len(win); i++ {
		k := uint16(win[i])<<8 | uint16(win[i+1])
		if t.bits[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		f.verify(from+i, k)
	}
}

// verify checks the keywords whose byte pair k is at position i.
func (f *fileScanner) verify(i int, k uint16) {
	b := f.buf
	for _, ai := range theTable.byPair[theTable.group[k]] {
		a := &anchors[ai]
		start := i - a.off
		if start < 0 || start+len(a.lit) > len(b) {
			continue
		}
		if !a.match(b[start : start+len(a.lit)]) {
			continue
		}
		f.handle(a, start)
	}
}

// binaryKeys searches positions [from, limit) for PEM private key headers.
func (f *fileScanner) binaryKeys(from, limit int) {
	b := f.buf
	for from < limit {
		j := bytes.Index(b[from:], pemAnchor)
		if j < 0 || from+j >= limit {
			return
		}
		f.handle(&anchors[pemAnchorIndex], from+j)
		from += j + 1
	}
}

// handle runs the rule of keyword a found at buffer position start over the window
// the rule may see.
func (f *fileScanner) handle(a *anchor, start int) {
	lo := max(0, start-behind)
	hi := min(len(f.buf), start+lookAhead)
	w := &window{f: f, b: f.buf[lo:hi], at: start - lo, n: len(a.lit), abs: f.base + int64(lo)}
	a.rule(w)
}

// window is the part of a file a rule sees around a keyword at b[at].
type window struct {
	f   *fileScanner
	b   []byte
	at  int
	n   int   // the keyword's length
	abs int64 // file offset of b[0]
}

// emit records a finding of rule r over secret whose keyword is at b[pos].
func (w *window) emit(r *Rule, secret []byte, pos int, keyType string, encrypted *bool) {
	f := w.f
	fp := f.s.fingerprint(r.ID, secret)
	for _, g := range f.findings {
		if g.Fingerprint == fp {
			return
		}
	}
	if len(f.findings) >= f.s.opts.maxPerFile {
		f.dropped++
		return
	}
	sev := r.Severity
	if encrypted != nil && *encrypted {
		sev = SeverityMedium
	}
	if r.ID == rulePrivateKey.ID || r.ID == ruleGCP.ID {
		f.hashes = append(f.hashes, secretHash{idx: len(f.findings), rule: r.ID, sum: sha256sum(secret)})
	}
	f.findings = append(f.findings, Finding{
		RuleID:      r.ID,
		Title:       r.Title,
		Severity:    sev,
		Path:        f.loc.Path,
		Layer:       f.loc.Layer,
		LayerIndex:  f.loc.LayerIndex,
		Line:        f.lineOf(w.abs + int64(pos)),
		Fingerprint: fp,
		KeyType:     keyType,
		Encrypted:   encrypted,
		Deleted:     f.loc.Deleted,
	})
}

// suppress drops private-key findings whose key is also reported as a GCP
// service-account key in the same file.
func (f *fileScanner) suppress() {
	var drop []int
	for _, g := range f.hashes {
		if g.rule != ruleGCP.ID {
			continue
		}
		for _, p := range f.hashes {
			if p.rule == rulePrivateKey.ID && p.sum == g.sum {
				drop = append(drop, p.idx)
			}
		}
	}
	if len(drop) == 0 {
		return
	}
	kept := f.findings[:0]
	for i, fd := range f.findings {
		if !containsInt(drop, i) {
			kept = append(kept, fd)
		}
	}
	f.findings = kept
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// lineOf returns the line number of file offset off, which must be in the buffer.
func (f *fileScanner) lineOf(off int64) int {
	if off >= f.lineAt {
		f.advanceLine(off)
		return f.line
	}
	return f.line - bytes.Count(f.buf[off-f.base:f.lineAt-f.base], []byte{'\n'})
}

func (f *fileScanner) advanceLine(off int64) {
	if off <= f.lineAt {
		return
	}
	f.line += bytes.Count(f.buf[f.lineAt-f.base:off-f.base], []byte{'\n'})
	f.lineAt = off
}

// classify tells text from binary by the first bytes of a file.
func classify(head []byte) fileMode {
	for _, m := range skipMagics {
		if bytes.HasPrefix(head, m) {
			return modeSkip
		}
	}
	for _, m := range executableMagics {
		if bytes.HasPrefix(head, m) {
			return modeBinary
		}
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return modeBinary
	}
	return modeText
}

var skipMagics = [][]byte{
	{0x1f, 0x8b},                               // gzip
	[]byte("PK\x03\x04"), []byte("PK\x05\x06"), // zip, jar, wheel
	{0xfd, '7', 'z', 'X', 'Z', 0},         // xz
	{0x28, 0xb5, 0x2f, 0xfd},              // zstd
	[]byte("BZh"),                         // bzip2
	[]byte("\x89PNG"), {0xff, 0xd8, 0xff}, // PNG, JPEG
	[]byte("GIF87a"), []byte("GIF89a"),
	[]byte("7z\xbc\xaf\x27\x1c"),
}

var executableMagics = [][]byte{
	[]byte("\x7fELF"), []byte("MZ"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf}, {0xce, 0xfa, 0xed, 0xfe},
	{0xcf, 0xfa, 0xed, 0xfe}, {0xca, 0xfe, 0xba, 0xbe},
}

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }

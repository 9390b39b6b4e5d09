package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Position is where a page of a listing ended: the sort key of its last row. A cursor
// carries it to the next call, which returns the rows strictly after it in the listing's
// order. Keyset pagination of this kind is stable under concurrent inserts: a row
// recorded later lands at its own place in the order and never shifts a page already
// served or about to be, so a walk sees every row that existed when it began exactly once.
type Position struct {
	// Time is the last row's sort time (artifacts, decisions); zero for listings ordered
	// by key alone.
	Time time.Time
	// Seq breaks ties among rows of one Key (FindPackages' row sequence); 0 otherwise.
	Seq int64
	// Key is the last row's unique key: an artifact digest or a decision's event id.
	Key string
}

// MaxCursor bounds a cursor's length.
const MaxCursor = 1024

const (
	cursorVersion  = 1
	cursorCheckLen = 8
	cursorFPLen    = 8
)

// EncodeCursor returns the opaque, URL-safe token for p in a listing of the given kind
// ("artifacts", "decisions", ...) whose filters have the given fingerprint (see
// Fingerprint).
//
// A cursor is tamper-evident, not secret: it ends with a checksum, so an edited or
// truncated token is refused with ErrInvalid, and it names the listing and filters it
// belongs to, so a cursor from another query is refused too. It grants nothing: every
// call applies its own filters and scope, whatever cursor it is given.
func EncodeCursor(kind string, fingerprint []byte, p Position) string {
	var b bytes.Buffer
	b.WriteByte(cursorVersion)
	b.WriteByte(byte(len(kind)))
	b.WriteString(kind)
	b.Write(fp(fingerprint))
	var n [8]byte
	ns := int64(0)
	if !p.Time.IsZero() {
		ns = p.Time.UnixNano()
	}
	binary.BigEndian.PutUint64(n[:], uint64(ns))
	b.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(p.Seq))
	b.Write(n[:])
	b.WriteString(p.Key)
	sum := cursorSum(b.Bytes())
	b.Write(sum)
	return base64.RawURLEncoding.EncodeToString(b.Bytes())
}

// DecodeCursor reads a token EncodeCursor made for the same kind and fingerprint. Any
// other input, malformed, edited or from another listing, is an error wrapping
// ErrInvalid that says to start again without a cursor.
func DecodeCursor(kind string, fingerprint []byte, token string) (Position, error) {
	bad := func(why string) (Position, error) {
		return Position{}, fmt.Errorf("%w: cursor %q %s: start again without a cursor", ErrInvalid, truncate(token), why)
	}
	if len(token) > MaxCursor {
		return bad(fmt.Sprintf("is longer than %d bytes", MaxCursor))
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return bad("is not unpadded base64url")
	}
	if len(raw) < 2+cursorFPLen+16+cursorCheckLen {
		return bad("is too short")
	}
	body, sum := raw[:len(raw)-cursorCheckLen], raw[len(raw)-cursorCheckLen:]
	if !bytes.Equal(sum, cursorSum(body)) {
		return bad("is damaged or was edited")
	}
	if body[0] != cursorVersion {
		return bad("is of an unknown version")
	}
	kl := int(body[1])
	rest := body[2:]
	if len(rest) < kl+cursorFPLen+16 || string(rest[:kl]) != kind {
		return bad("belongs to another listing")
	}
	rest = rest[kl:]
	if !bytes.Equal(rest[:cursorFPLen], fp(fingerprint)) {
		return bad("belongs to a query with other filters")
	}
	rest = rest[cursorFPLen:]
	ns := int64(binary.BigEndian.Uint64(rest[:8]))
	seq := int64(binary.BigEndian.Uint64(rest[8:16]))
	p := Position{Seq: seq, Key: string(rest[16:])}
	if ns != 0 {
		p.Time = time.Unix(0, ns).UTC()
	}
	return p, nil
}

// Fingerprint hashes a listing's filters into the value a cursor is bound to. Give it
// every filter that changes which rows are listed, in a fixed order.
func Fingerprint(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

func fp(fingerprint []byte) []byte {
	out := make([]byte, cursorFPLen)
	copy(out, fingerprint)
	return out
}

func cursorSum(body []byte) []byte {
	h := sha256.New()
	h.Write([]byte("custody ledger cursor v1\x00"))
	h.Write(body)
	return h.Sum(nil)[:cursorCheckLen]
}

// listFingerprint renders a list of strings for Fingerprint.
func listFingerprint(items []string) string { return strings.Join(items, "\x00") }

// timeFingerprint renders a time for Fingerprint.
func timeFingerprint(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprint(t.UnixNano())
}

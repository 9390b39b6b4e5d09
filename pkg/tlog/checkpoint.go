package tlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpoint bounds a checkpoint body, and MaxSignedCheckpoint a signed checkpoint
// (body and signature lines), accepted by Parse and Open.
const (
	MaxCheckpoint       = 1024
	MaxSignedCheckpoint = 16 * 1024
)

// ErrCheckpoint: a checkpoint is malformed or its signature does not verify.
var ErrCheckpoint = errors.New("invalid checkpoint")

// Checkpoint is a log's signed statement of its size and root hash.
type Checkpoint struct {
	// Origin names the log; it is also the name of the key that signs its checkpoints.
	Origin string
	Size   uint64
	Root   []byte
}

// Marshal returns the checkpoint body: "origin\nsize\nbase64(root)\n".
func (c Checkpoint) Marshal() ([]byte, error) {
	if err := checkOrigin(c.Origin); err != nil {
		return nil, err
	}
	if len(c.Root) != HashSize {
		return nil, fmt.Errorf("%w: root hash is %d bytes, want %d", ErrCheckpoint, len(c.Root), HashSize)
	}
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root)), nil
}

// ParseCheckpoint parses a checkpoint body (no signatures). It accepts exactly the
// three lines Marshal writes: this log writes no extension lines, so any is refused.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	if len(body) > MaxCheckpoint {
		return Checkpoint{}, fmt.Errorf("%w: body is %d bytes, at most %d", ErrCheckpoint, len(body), MaxCheckpoint)
	}
	if !utf8.Valid(body) || !bytes.HasSuffix(body, []byte("\n")) {
		return Checkpoint{}, fmt.Errorf("%w: body must be UTF-8 text ending in a newline", ErrCheckpoint)
	}
	lines := strings.Split(string(body[:len(body)-1]), "\n")
	if len(lines) != 3 {
		return Checkpoint{}, fmt.Errorf("%w: body has %d lines, want 3 (origin, size, root)", ErrCheckpoint, len(lines))
	}
	if err := checkOrigin(lines[0]); err != nil {
		return Checkpoint{}, err
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("%w: size %q is not a decimal number", ErrCheckpoint, trunc(lines[1]))
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root %q is not a base64 %d-byte hash", ErrCheckpoint, trunc(lines[2]), HashSize)
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// Sign returns the checkpoint as a signed note. The signer's name must be the origin.
func Sign(c Checkpoint, signer note.Signer) ([]byte, error) {
	if signer == nil {
		return nil, errors.New("tlog: nil signer")
	}
	if signer.Name() != c.Origin {
		return nil, fmt.Errorf("%w: signer %q cannot sign for origin %q", ErrCheckpoint, signer.Name(), c.Origin)
	}
	body, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: string(body)}, signer)
	if err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	return signed, nil
}

// Open verifies a signed checkpoint with verifier, whose name must be the checkpoint's
// origin, and returns it. Signatures by other keys are ignored; one by verifier is
// required.
func Open(signed []byte, verifier note.Verifier) (Checkpoint, error) {
	if verifier == nil {
		return Checkpoint{}, errors.New("tlog: nil verifier")
	}
	if len(signed) > MaxSignedCheckpoint {
		return Checkpoint{}, fmt.Errorf("%w: signed checkpoint is %d bytes, at most %d", ErrCheckpoint, len(signed), MaxSignedCheckpoint)
	}
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != verifier.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q is not the verifier's log %q", ErrCheckpoint, c.Origin, verifier.Name())
	}
	return c, nil
}

func checkOrigin(o string) error {
	if o == "" || len(o) > 256 || !utf8.ValidString(o) || strings.ContainsAny(o, "\n+") ||
		strings.ContainsFunc(o, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: origin %q must be 1-256 bytes of printable text without spaces or '+'", ErrCheckpoint, trunc(o))
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

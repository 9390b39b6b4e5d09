package bundle

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// MediaType identifies version 1 of the bundle format.
const MediaType = "application/vnd.custody.bundle.v1+json"

// Limits on what Parse accepts.
const (
	// MaxSize bounds a bundle document: envelopes may hold large SBOMs.
	MaxSize = 128 << 20
	// MaxItems bounds each list (envelopes, keys, decisions, promotions, log entries).
	MaxItems = 4096
	// MaxProof bounds an inclusion proof (a tree of 2^64 leaves needs 64 hashes).
	MaxProof = 64
	// MaxLeaf bounds one log entry's data.
	MaxLeaf = 64 << 10
)

// ErrMalformed: the document is not a well-formed version 1 bundle.
var ErrMalformed = errors.New("malformed bundle")

// Bundle is the offline evidence for one artifact digest. Its JSON field names are the
// format; see the package documentation for what each part proves.
type Bundle struct {
	MediaType string `json:"mediaType"`
	// Digest is the artifact digest, sha256:<64 hex>.
	Digest string `json:"digest"`
	// LogKey is the log's note verifier key (golang.org/x/mod/sumdb/note).
	LogKey string `json:"logKey"`
	// Checkpoint is the log's signed checkpoint, as served.
	Checkpoint string `json:"checkpoint"`
	// Keys are the public keys that signed the envelopes.
	Keys []Key `json:"keys"`
	// Attestations are the DSSE envelopes recorded for the digest.
	Attestations []Attestation `json:"attestations"`
	// Decisions and Promotions are the ledger's records for the digest.
	Decisions  []Decision  `json:"decisions"`
	Promotions []Promotion `json:"promotions"`
	// Records is a note signed by the log key over Decisions and Promotions (see
	// RecordsText).
	Records string `json:"records"`
	// LogEntries are the log entries of the attestations and decisions, with proofs.
	LogEntries []LogEntry `json:"logEntries"`
}

// Key is a public key that signed envelopes.
type Key struct {
	// KeyID is the hex sha256 of the key's PKIX DER encoding.
	KeyID string `json:"keyId"`
	// PEM is the PKIX PEM encoding, exactly as cryptoutils writes it.
	PEM string `json:"pem"`
}

// Attestation is one recorded DSSE envelope.
type Attestation struct {
	PredicateType string `json:"predicateType"`
	// Envelope is the envelope's bytes (standard base64 in JSON).
	Envelope Base64 `json:"envelope"`
	// LogIndex is the index of its entry in the log.
	LogIndex int64 `json:"logIndex"`
}

// Decision is a gate decision. RequestID, Verdict, PolicyDigest, AttestationDigests
// (and the bundle's digest) are what its log entry records; the rest only the records
// note covers.
type Decision struct {
	RequestID          string   `json:"requestId"`
	Verdict            string   `json:"verdict"`
	PolicyDigest       string   `json:"policyDigest"`
	AttestationDigests []string `json:"attestationDigests"`
	LogIndex           int64    `json:"logIndex"`
	Destination        string   `json:"destination"`
	PolicyName         string   `json:"policyName"`
	Reasons            []string `json:"reasons"`
	DecidedAt          string   `json:"decidedAt"`
}

// Promotion is a promotion of the artifact as the ledger last recorded it.
type Promotion struct {
	RequestID        string `json:"requestId"`
	Status           string `json:"status"`
	SourceImage      string `json:"sourceImage"`
	Destination      string `json:"destination"`
	DestinationImage string `json:"destinationImage"`
	Error            string `json:"error"`
	RequestedBy      string `json:"requestedBy"`
	RequestedAt      string `json:"requestedAt"`
	DecidedAt        string `json:"decidedAt"`
	FinishedAt       string `json:"finishedAt"`
}

// LogEntry is one log entry with its inclusion proof against the bundle's checkpoint.
type LogEntry struct {
	Index int64 `json:"index"`
	// Entry is the logged data; its leaf hash is SHA-256(0x00 || Entry).
	Entry Base64 `json:"entry"`
	// Proof is the RFC 6962 inclusion proof, leaf to root.
	Proof []Base64 `json:"proof"`
}

// Base64 is bytes that are standard, padded, canonical base64 in JSON: a string that
// decodes and encodes back to itself, so that no two spellings mean the same bytes.
type Base64 []byte

// MarshalJSON encodes the bytes as a base64 string.
func (b Base64) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// UnmarshalJSON decodes a canonical base64 string.
func (b *Base64) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != s {
		return errors.New("not canonical standard base64")
	}
	*b = raw
	return nil
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// Parse reads a bundle strictly (see the package documentation) and checks its shape;
// Verify checks what it says. Errors wrap ErrMalformed.
func Parse(data []byte) (*Bundle, error) {
	var b Bundle
	if err := decodeStrict(data, MaxSize, &b); err != nil {
		return nil, err
	}
	if err := b.checkShape(); err != nil {
		return nil, err
	}
	return &b, nil
}

// Marshal returns the bundle's compact JSON encoding.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("bundle: encode: %w", err)
	}
	return out, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func (b *Bundle) checkShape() error {
	if b.MediaType != MediaType {
		return malformed("mediaType %q, want %q", trunc(b.MediaType), MediaType)
	}
	if !digestRE.MatchString(b.Digest) {
		return malformed("digest %q is not sha256:<64 hex>", trunc(b.Digest))
	}
	for name, n := range map[string]int{
		"keys": len(b.Keys), "attestations": len(b.Attestations), "decisions": len(b.Decisions),
		"promotions": len(b.Promotions), "logEntries": len(b.LogEntries),
	} {
		if n > MaxItems {
			return malformed("%d %s, at most %d", n, name, MaxItems)
		}
	}
	for _, e := range b.LogEntries {
		if len(e.Proof) > MaxProof {
			return malformed("log entry %d: proof of %d hashes, at most %d", e.Index, len(e.Proof), MaxProof)
		}
		if len(e.Entry) == 0 || len(e.Entry) > MaxLeaf {
			return malformed("log entry %d: entry of %d bytes, want 1-%d", e.Index, len(e.Entry), MaxLeaf)
		}
	}
	return nil
}

// decodeStrict decodes one JSON value into v (a pointer to a struct), refusing
// documents over limit bytes, invalid UTF-8, keys that are not exactly a field name of
// v's types, duplicate keys, and anything after the value.
func decodeStrict(data []byte, limit int, v any) error {
	if len(data) > limit {
		return malformed("%d bytes, at most %d", len(data), limit)
	}
	if !utf8.Valid(data) {
		return malformed("not valid UTF-8")
	}
	if err := checkKeys(data, fieldNames(reflect.TypeOf(v))); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("data after the document")
	}
	return nil
}

// checkKeys walks the token stream: every object key must be in names, exactly, and
// at most once per object.
func checkKeys(data []byte, names map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object bool
		seen   map[string]bool
		key    bool // the next token in this object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return malformed("%v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
				continue
			}
			k, _ := tok.(string)
			if !names[k] {
				return malformed("unknown key %q", trunc(k))
			}
			if top.seen[k] {
				return malformed("duplicate key %q", k)
			}
			top.seen[k] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			if len(stack) >= 16 {
				return malformed("nested too deeply")
			}
			stack = append(stack, &frame{object: true, seen: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			if len(stack) >= 16 {
				return malformed("nested too deeply")
			}
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}

var names sync.Map // reflect.Type -> map[string]bool

// fieldNames returns the JSON names of the fields of t's struct types, recursively.
func fieldNames(t reflect.Type) map[string]bool {
	if m, ok := names.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		if seen[t] {
			return
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
		case reflect.Struct:
			for f := range t.Fields() {
				if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
					m[name] = true
				}
				walk(f.Type)
			}
		}
	}
	walk(t)
	names.Store(t, m)
	return m
}

func trunc(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return s
}

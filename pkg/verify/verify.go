package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// PayloadTypeInToto is the only payloadType accepted.
const PayloadTypeInToto = "application/vnd.in-toto+json"

// DefaultMaxEnvelopeSize bounds an envelope: 32 MiB leaves room for large SBOMs.
const DefaultMaxEnvelopeSize = 32 << 20

// Sentinel errors; Verify's errors wrap exactly one of them.
var (
	ErrMalformed       = errors.New("malformed envelope")
	ErrPayloadType     = errors.New("wrong payload type")
	ErrUntrusted       = errors.New("no valid signature from a trusted key")
	ErrSubjectMismatch = errors.New("statement subject does not name the artifact")
	ErrNoKeys          = errors.New("no trusted keys configured")
)

// TrustedKey is a public key Custody accepts signatures from, within a validity window.
type TrustedKey struct {
	// ID is the hex sha256 of the PKIX DER public key.
	ID   string
	Name string
	// Public is the key.
	Public crypto.PublicKey
	// NotBefore and NotAfter bound when the key's signatures count; zero is unbounded.
	NotBefore, NotAfter time.Time
}

// ValidAt reports whether t lies in the key's window.
func (k TrustedKey) ValidAt(t time.Time) bool {
	return (k.NotBefore.IsZero() || !t.Before(k.NotBefore)) && (k.NotAfter.IsZero() || !t.After(k.NotAfter))
}

// ParseTrustedKeyPEM reads a PKIX PEM public key.
func ParseTrustedKeyPEM(name string, pemBytes []byte) (TrustedKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("trusted key %s: %w", name, err)
	}
	id, err := keyID(pub)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("trusted key %s: %w", name, err)
	}
	return TrustedKey{ID: id, Name: name, Public: pub}, nil
}

func keyID(pub crypto.PublicKey) (string, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// Result is what a verified envelope says, and who said it.
type Result struct {
	// EnvelopeDigest is sha256:<hex> of the envelope bytes as received.
	EnvelopeDigest string `json:"envelopeDigest"`
	PayloadType    string `json:"payloadType"`
	// Statement is the verified in-toto statement's header: type, subjects and
	// predicate type. Its Predicate is left nil; the predicate's JSON is Predicate (and
	// ParseStatement(Payload) decodes the whole statement).
	Statement     *intoto.Statement `json:"-"`
	PredicateType string            `json:"predicateType"`
	// KeyIDs lists each trusted key with a valid signature, once.
	KeyIDs []string `json:"keyIds"`
	// Payload is the verified statement's bytes.
	Payload []byte `json:"-"`
	// Predicate is the statement's predicate, a JSON object, as it appears in Payload.
	Predicate []byte `json:"-"`
	// SignedAt is the time the keys' validity windows were checked at: the caller's
	// SignedAt, or the verifier's clock.
	SignedAt time.Time `json:"signedAt"`
}

type trusted struct {
	key TrustedKey
	v   signature.Verifier
}

// Verifier verifies envelopes against a fixed set of trusted keys.
type Verifier struct {
	keys    []trusted
	maxSize int
	now     func() time.Time
}

type options struct {
	maxSize int
	now     func() time.Time
}

// Option configures a Verifier.
type Option func(*options) error

// WithMaxEnvelopeSize bounds the envelope size.
func WithMaxEnvelopeSize(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("verify: max envelope size %d must be positive", n)
		}
		o.maxSize = n
		return nil
	}
}

// WithClock sets the time keys' validity windows are checked at.
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// VerifyOption configures one call of Verify.
type VerifyOption func(*verifyOptions)

type verifyOptions struct {
	signedAt time.Time
}

// SignedAt checks the trusted keys' validity windows at t, the time the evidence came
// into being, instead of now: a key's signature counts only for evidence signed inside
// its window. DSSE carries no signed time, so t comes from the caller (the time of the
// event that announced the envelope, for instance) and the caller answers for it. A zero
// t means now.
func SignedAt(t time.Time) VerifyOption {
	return func(o *verifyOptions) { o.signedAt = t }
}

// NewVerifier returns a Verifier trusting keys. It refuses an empty key set: with no
// keys nothing could ever verify, and that is a configuration error to surface early.
func NewVerifier(keys []TrustedKey, opts ...Option) (*Verifier, error) {
	o := options{maxSize: DefaultMaxEnvelopeSize, now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("verify: %w", ErrNoKeys)
	}
	v := &Verifier{maxSize: o.maxSize, now: o.now}
	seen := map[string]bool{}
	for _, k := range keys {
		id, err := keyID(k.Public)
		if err != nil {
			return nil, fmt.Errorf("verify: trusted key %s: %w", k.Name, err)
		}
		if k.ID != "" && k.ID != id {
			return nil, fmt.Errorf("verify: trusted key %s: id %s does not match its public key (%s)", k.Name, k.ID, id)
		}
		k.ID = id
		// One key may be listed more than once with different windows (retired, then
		// trusted again); each window counts.
		window := id + "|" + k.NotBefore.String() + "|" + k.NotAfter.String()
		if seen[window] {
			continue
		}
		seen[window] = true
		sv, err := signature.LoadVerifier(k.Public, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("verify: trusted key %s: %w", k.Name, err)
		}
		v.keys = append(v.keys, trusted{key: k, v: sv})
	}
	return v, nil
}

// KeyIDs lists the trusted keys' ids, each once.
func (v *Verifier) KeyIDs() []string {
	ids := make([]string, 0, len(v.keys))
	for _, k := range v.keys {
		if !slices.Contains(ids, k.key.ID) {
			ids = append(ids, k.key.ID)
		}
	}
	return ids
}

// Verify checks envelope against the trusted keys and that its statement is about
// subjectDigest (sha256:<hex>). Any failure is an error; a nil error means at least one
// trusted key, valid when the evidence was signed (now, unless SignedAt says otherwise),
// signed this exact statement about this exact digest.
func (v *Verifier) Verify(ctx context.Context, envelope []byte, subjectDigest string, opts ...VerifyOption) (*Result, error) {
	var vo verifyOptions
	for _, opt := range opts {
		opt(&vo)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	algo, hexDigest, ok := strings.Cut(subjectDigest, ":")
	if !ok || algo != "sha256" || len(hexDigest) != 64 || !isLowerHex(hexDigest) {
		return nil, fmt.Errorf("verify: artifact digest %q is not sha256:<64 hex>", subjectDigest)
	}
	if len(envelope) > v.maxSize {
		return nil, fmt.Errorf("verify: envelope of %d bytes exceeds %d: %w", len(envelope), v.maxSize, ErrMalformed)
	}
	if err := checkJSON("envelope", envelope, envelopeKeys); err != nil {
		return nil, fmt.Errorf("verify: %v: %w", err, ErrMalformed)
	}
	var env dsse.Envelope
	// checkJSON refused case variants of the DSSE names, so v2's exact name matching
	// reads what v1's case-insensitive matching would.
	if err := jsonv2.Unmarshal(envelope, &env); err != nil {
		// The library's wording varies on purpose; say what is wrong ourselves.
		return nil, fmt.Errorf("verify: envelope is not a DSSE envelope (an object of payloadType, payload and signatures): %v: %w", err, ErrMalformed)
	}
	if env.PayloadType != PayloadTypeInToto {
		return nil, fmt.Errorf("verify: payloadType %q, want %q: %w", env.PayloadType, PayloadTypeInToto, ErrPayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("verify: payload is not standard base64: %w", ErrMalformed)
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("verify: envelope has no signatures: %w", ErrUntrusted)
	}
	if len(env.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("verify: envelope has %d signatures, more than the %d checked: %w", len(env.Signatures), MaxSignatures, ErrMalformed)
	}
	pae := dsse.PAE(env.PayloadType, payload)
	at := vo.signedAt
	if at.IsZero() {
		at = v.now()
	}
	var keyIDs []string
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil || len(sig) == 0 {
			continue // an unparseable signature counts for nothing, and against nothing
		}
		for _, k := range v.keys {
			if slices.Contains(keyIDs, k.key.ID) || !k.key.ValidAt(at) {
				continue
			}
			if k.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae)) == nil {
				keyIDs = append(keyIDs, k.key.ID)
				break
			}
		}
	}
	if len(keyIDs) == 0 {
		return nil, fmt.Errorf("verify: %d signature(s) checked against %d trusted key(s): %w (key validity windows checked at %s)",
			len(env.Signatures), len(v.KeyIDs()), ErrUntrusted, at.UTC().Format(time.RFC3339))
	}
	st, pred, err := parseStatementHeader(payload)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if !statementNames(st, hexDigest) {
		return nil, fmt.Errorf("verify: statement subjects do not include %s: %w", subjectDigest, ErrSubjectMismatch)
	}
	sum := sha256.Sum256(envelope)
	return &Result{
		EnvelopeDigest: "sha256:" + hex.EncodeToString(sum[:]),
		PayloadType:    env.PayloadType,
		Statement:      st,
		PredicateType:  st.GetPredicateType(),
		KeyIDs:         keyIDs,
		Payload:        payload,
		Predicate:      pred,
		SignedAt:       at,
	}, nil
}

// ParseStatement decodes and validates an in-toto statement (v1, or v0.1 as older cosign
// writes). Unknown fields are errors, and so is anything parsers could read differently:
// invalid UTF-8, a key given twice in one object, nesting deeper than MaxJSONDepth, and
// protobuf's names for fields ("predicate_type" for "predicateType"). Errors wrap
// ErrMalformed.
func ParseStatement(payload []byte) (*intoto.Statement, error) {
	if err := checkJSON("statement", payload, statementKeys); err != nil {
		return nil, fmt.Errorf("decode statement: %v: %w", err, ErrMalformed)
	}
	var st intoto.Statement
	if err := (protojson.UnmarshalOptions{}).Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("decode statement: %v: %w", err, ErrMalformed)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("invalid statement: %v: %w", err, ErrMalformed)
	}
	return &st, nil
}

// parseStatementHeader checks payload as strictly as ParseStatement and decodes all of
// it but the predicate, which it returns as raw JSON: a consumer that reads the
// predicate (the policy) decodes it once, into its own types, instead of protobuf's
// Struct first. The statement it returns has a nil Predicate.
func parseStatementHeader(payload []byte) (*intoto.Statement, []byte, error) {
	if err := checkJSON("statement", payload, statementKeys); err != nil {
		return nil, nil, fmt.Errorf("decode statement: %v: %w", err, ErrMalformed)
	}
	header, pred, err := splitPredicate(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("decode statement: %v: %w", err, ErrMalformed)
	}
	var st intoto.Statement
	if err := (protojson.UnmarshalOptions{}).Unmarshal(header, &st); err != nil {
		return nil, nil, fmt.Errorf("decode statement: %v: %w", err, ErrMalformed)
	}
	if pred != nil {
		// The in-toto binding's own checks want a predicate; its content is the
		// consumer's to read.
		st.Predicate = &structpb.Struct{}
	}
	err = st.Validate()
	st.Predicate = nil
	if err != nil {
		return nil, nil, fmt.Errorf("invalid statement: %v: %w", err, ErrMalformed)
	}
	return &st, pred, nil
}

// splitPredicate returns the statement object (checked by checkJSON) without its
// "predicate" member, and that member's value when it is an object (nil when it is
// absent or null). Any other predicate is an error, as it is to protojson.
func splitPredicate(doc []byte) (header, pred []byte, err error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(doc)) // a bytes.Buffer is read in place
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, nil, errors.New("a statement is a JSON object")
	}
	header = append(make([]byte, 0, 512), '{')
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, nil, err
		}
		name := tok.String() // before the next read, which reuses the token's bytes
		val, err := dec.ReadValue()
		if err != nil {
			return nil, nil, err
		}
		if name == "predicate" {
			switch val.Kind() {
			case '{':
				pred = bytes.Clone(val)
			case 'n':
			default:
				return nil, nil, fmt.Errorf("the predicate is a JSON %s, not an object", val.Kind())
			}
			continue
		}
		if len(header) > 1 {
			header = append(header, ',')
		}
		if header, err = jsontext.AppendQuote(header, name); err != nil {
			return nil, nil, err
		}
		header = append(append(header, ':'), val...)
	}
	return append(header, '}'), pred, nil
}

func statementNames(st *intoto.Statement, hexDigest string) bool {
	for _, s := range st.GetSubject() {
		if s.GetDigest()["sha256"] == hexDigest {
			return true
		}
	}
	return false
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

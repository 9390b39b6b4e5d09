package bundle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/tlog"
	"github.com/custody-dev/custody/pkg/verify"
)

// Reasons a bundle fails to verify. Verify's errors are *Failure values whose Err wraps
// exactly one of them.
var (
	// ErrNoLogKey: neither WithLogKey nor WithBundleLogKeyUnsafe was given.
	ErrNoLogKey = errors.New("no log key to check the checkpoint with")
	// ErrCheckpoint: the checkpoint or the records note is not signed by the log key.
	ErrCheckpoint = errors.New("invalid checkpoint")
	// ErrSignature: an envelope is not signed by a trusted key, or a bundle key is not
	// the key it says.
	ErrSignature = errors.New("invalid signature")
	// ErrInclusion: a log entry is not in the tree the checkpoint signs.
	ErrInclusion = errors.New("not in the log")
	// ErrMismatch: two parts of the bundle that must agree do not.
	ErrMismatch = errors.New("evidence does not match")
)

// Failure names the part of a bundle that failed to verify, and why.
type Failure struct {
	// Item is the part: "checkpoint", "envelope 2 (https://slsa.dev/provenance/v1)",
	// "log entry 17", "decision 1 (req-1)", "records", ...
	Item string `json:"item"`
	Err  error  `json:"-"`
}

func (f *Failure) Error() string { return f.Item + ": " + f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// reason is a failure message that errors.Is matches against its sentinel.
type reason struct {
	sentinel error
	msg      string
}

func (r *reason) Error() string { return r.msg }
func (r *reason) Unwrap() error { return r.sentinel }

func fail(item string, sentinel error, format string, args ...any) error {
	return &Failure{Item: item, Err: &reason{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}}
}

// Option configures Verify.
type Option func(*options) error

type options struct {
	logKey       string
	bundleLogKey bool
}

// WithLogKey pins the log's note verifier key (the ledger's GET /v1/log/key, or
// DATA/keys/log.pub of `custody dev`). The bundle's own log key must equal it.
func WithLogKey(vkey string) Option {
	return func(o *options) error {
		vkey = strings.TrimSpace(vkey)
		if _, err := note.NewVerifier(vkey); err != nil {
			return fmt.Errorf("bundle: log key: %w", err)
		}
		o.logKey = vkey
		return nil
	}
}

// WithBundleLogKeyUnsafe checks the checkpoint with the log key the bundle carries.
// That proves only that the bundle is consistent with itself, not that Custody's
// ledger logged anything: see the package documentation. Result.LogKeyPinned is false.
func WithBundleLogKeyUnsafe() Option {
	return func(o *options) error { o.bundleLogKey = true; return nil }
}

// Result is what a verified bundle proves. It serialises to JSON for auditors.
type Result struct {
	Digest string `json:"digest"`
	// LogOrigin, LogSize and LogRoot are the verified checkpoint's.
	LogOrigin string `json:"logOrigin"`
	LogSize   uint64 `json:"logSize"`
	LogRoot   []byte `json:"logRoot"`
	// LogKeyPinned is false when the checkpoint was checked with the bundle's own log
	// key (WithBundleLogKeyUnsafe): then nothing about the log is proven.
	LogKeyPinned bool                  `json:"logKeyPinned"`
	Attestations []VerifiedAttestation `json:"attestations"`
	Decisions    []VerifiedDecision    `json:"decisions"`
	Promotions   []VerifiedPromotion   `json:"promotions"`
}

// VerifiedAttestation is one envelope that verified.
type VerifiedAttestation struct {
	PredicateType  string   `json:"predicateType"`
	EnvelopeDigest string   `json:"envelopeDigest"`
	KeyIDs         []string `json:"keyIds"`
	LogIndex       int64    `json:"logIndex"`
}

// VerifiedDecision is one decision whose log entry verified.
type VerifiedDecision struct {
	RequestID string `json:"requestId"`
	Verdict   string `json:"verdict"`
	LogIndex  int64  `json:"logIndex"`
}

// VerifiedPromotion is one promotion the records note covers.
type VerifiedPromotion struct {
	RequestID        string `json:"requestId"`
	Status           string `json:"status"`
	DestinationImage string `json:"destinationImage"`
}

// Verify checks every part of b, offline, against the artifact signing keys the
// caller trusts (at least one) and the log key WithLogKey pins. It returns the first
// failure as a *Failure naming the part; a nil error means every envelope, log entry,
// decision and promotion in b verified (see the package documentation for what that
// proves).
func Verify(ctx context.Context, b *Bundle, keys []verify.TrustedKey, opts ...Option) (*Result, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if b == nil {
		return nil, errors.New("bundle: nil bundle")
	}
	if err := b.checkShape(); err != nil {
		return nil, &Failure{Item: "bundle", Err: err}
	}
	verifier, err := verify.NewVerifier(keys)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	v := &verification{b: b, verifier: verifier, res: &Result{
		Digest: b.Digest, Attestations: []VerifiedAttestation{}, Decisions: []VerifiedDecision{}, Promotions: []VerifiedPromotion{},
	}}
	steps := []func(context.Context, options) error{
		v.checkpoint, v.keys, v.logEntries, v.attestations, v.decisions, v.unreferenced, v.records, v.promotions,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := step(ctx, o); err != nil {
			return nil, err
		}
	}
	return v.res, nil
}

type verification struct {
	b        *Bundle
	verifier *verify.Verifier
	res      *Result
	logV     note.Verifier
	cp       tlog.Checkpoint
	keyIDs   map[string]bool
	entries  map[int64]any // log index -> parsed leaf
	used     map[int64]string
	verdicts map[string][]string // request id -> logged verdicts
}

func (v *verification) checkpoint(_ context.Context, o options) error {
	b := v.b
	vkey := o.logKey
	switch {
	case vkey != "":
		if b.LogKey != vkey {
			return fail("log key", ErrCheckpoint, "the bundle's log key %q is not the log key given (%q)", trunc(b.LogKey), trunc(vkey))
		}
		v.res.LogKeyPinned = true
	case o.bundleLogKey:
		vkey = b.LogKey
	default:
		return fail("log key", ErrNoLogKey, "give the log's verifier key")
	}
	lv, err := note.NewVerifier(vkey)
	if err != nil {
		return fail("log key", ErrCheckpoint, "not a note verifier key: %v", err)
	}
	v.logV = lv
	n, err := openNote(b.Checkpoint, lv)
	if err != nil {
		return fail("checkpoint", ErrCheckpoint, "signature invalid: %v", err)
	}
	cp, err := tlog.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return fail("checkpoint", ErrCheckpoint, "%v", err)
	}
	if cp.Origin != lv.Name() {
		return fail("checkpoint", ErrCheckpoint, "origin %q is not the log key's %q", cp.Origin, lv.Name())
	}
	v.cp = cp
	v.res.LogOrigin, v.res.LogSize, v.res.LogRoot = cp.Origin, cp.Size, cp.Root
	return nil
}

func (v *verification) keys(context.Context, options) error {
	v.keyIDs = map[string]bool{}
	for i, k := range v.b.Keys {
		item := fmt.Sprintf("key %d (%s)", i+1, trunc(k.KeyID))
		pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(k.PEM))
		if err != nil {
			return fail(item, ErrSignature, "PEM is not a public key: %v", err)
		}
		canon, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil || string(canon) != k.PEM {
			return fail(item, ErrSignature, "PEM is not in canonical form")
		}
		tk, err := verify.ParseTrustedKeyPEM(k.KeyID, canon)
		if err != nil {
			return fail(item, ErrSignature, "%v", err)
		}
		if tk.ID != k.KeyID {
			return fail(item, ErrSignature, "key id does not match the key, whose id is %s", tk.ID)
		}
		if v.keyIDs[k.KeyID] {
			return fail(item, ErrMismatch, "listed twice")
		}
		v.keyIDs[k.KeyID] = true
	}
	return nil
}

func (v *verification) logEntries(context.Context, options) error {
	v.entries, v.used = map[int64]any{}, map[int64]string{}
	for _, e := range v.b.LogEntries {
		item := fmt.Sprintf("log entry %d", e.Index)
		if e.Index < 0 || uint64(e.Index) >= v.cp.Size {
			return fail(item, ErrInclusion, "index is outside the checkpoint's tree of %d entries", v.cp.Size)
		}
		if _, dup := v.entries[e.Index]; dup {
			return fail(item, ErrMismatch, "listed twice")
		}
		proof := make([][]byte, len(e.Proof))
		for i, h := range e.Proof {
			proof[i] = h
		}
		if err := tlog.VerifyInclusion(uint64(e.Index), v.cp.Size, tlog.LeafHash(e.Entry), proof, v.cp.Root); err != nil {
			return fail(item, ErrInclusion, "inclusion proof does not match checkpoint root")
		}
		leaf, err := parseLeaf(e.Entry)
		if err != nil {
			return fail(item, ErrMismatch, "%v", err)
		}
		v.entries[e.Index] = leaf
	}
	return nil
}

// use claims log entry idx for item, once.
func (v *verification) use(item string, idx int64) (any, error) {
	leaf, ok := v.entries[idx]
	if !ok {
		return nil, fail(item, ErrInclusion, "log entry %d is not in the bundle", idx)
	}
	if by, dup := v.used[idx]; dup {
		return nil, fail(item, ErrMismatch, "log entry %d is already the entry of %s", idx, by)
	}
	v.used[idx] = item
	return leaf, nil
}

func (v *verification) attestations(ctx context.Context, _ options) error {
	for i, a := range v.b.Attestations {
		item := fmt.Sprintf("envelope %d (%s)", i+1, trunc(a.PredicateType))
		res, err := v.verifier.Verify(ctx, a.Envelope, v.b.Digest)
		switch {
		case errors.Is(err, verify.ErrUntrusted):
			return fail(item, ErrSignature, "signature does not verify with key %s", strings.Join(v.verifier.KeyIDs(), ", "))
		case errors.Is(err, verify.ErrSubjectMismatch):
			return fail(item, ErrMismatch, "statement subject is not %s", v.b.Digest)
		case errors.Is(err, verify.ErrPayloadType):
			return fail(item, ErrMismatch, "payloadType is not %s", verify.PayloadTypeInToto)
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fail(item, ErrMismatch, "%v", err)
		}
		if res.PredicateType != a.PredicateType {
			return fail(item, ErrMismatch, "the signed statement's predicateType is %q", trunc(res.PredicateType))
		}
		for _, id := range res.KeyIDs {
			if !v.keyIDs[id] {
				return fail(item, ErrSignature, "signed by key %s, which the bundle does not list", id)
			}
		}
		leaf, err := v.use(item, a.LogIndex)
		if err != nil {
			return err
		}
		l, ok := leaf.(*AttestationLeaf)
		switch {
		case !ok:
			return fail(item, ErrMismatch, "log entry %d is not an attestation", a.LogIndex)
		case l.EnvelopeDigest != res.EnvelopeDigest:
			return fail(item, ErrMismatch, "envelope bytes (%s) do not hash to the envelope digest %s of log entry %d",
				res.EnvelopeDigest, trunc(l.EnvelopeDigest), a.LogIndex)
		case l.SubjectDigest != v.b.Digest:
			return fail(item, ErrMismatch, "log entry %d is about %s", a.LogIndex, trunc(l.SubjectDigest))
		case l.PredicateType != res.PredicateType:
			return fail(item, ErrMismatch, "log entry %d records predicateType %q", a.LogIndex, trunc(l.PredicateType))
		case !slices.ContainsFunc(res.KeyIDs, func(id string) bool { return slices.Contains(l.KeyIDs, id) }):
			return fail(item, ErrSignature, "log entry %d records keys %s, not the key that verified (%s)",
				a.LogIndex, strings.Join(l.KeyIDs, ", "), strings.Join(res.KeyIDs, ", "))
		}
		v.res.Attestations = append(v.res.Attestations, VerifiedAttestation{
			PredicateType: res.PredicateType, EnvelopeDigest: res.EnvelopeDigest, KeyIDs: res.KeyIDs, LogIndex: a.LogIndex,
		})
	}
	return nil
}

func (v *verification) decisions(context.Context, options) error {
	v.verdicts = map[string][]string{}
	for i, d := range v.b.Decisions {
		item := fmt.Sprintf("decision %d (%s)", i+1, trunc(d.RequestID))
		leaf, err := v.use(item, d.LogIndex)
		if err != nil {
			return err
		}
		l, ok := leaf.(*DecisionLeaf)
		if !ok {
			return fail(item, ErrMismatch, "log entry %d is not a decision", d.LogIndex)
		}
		var diff []string
		if l.RequestID != d.RequestID {
			diff = append(diff, "requestId")
		}
		if l.Digest != v.b.Digest {
			diff = append(diff, "digest")
		}
		if l.Verdict != d.Verdict {
			diff = append(diff, "verdict")
		}
		if l.PolicyDigest != d.PolicyDigest {
			diff = append(diff, "policyDigest")
		}
		if !slices.Equal(l.AttestationDigests, d.AttestationDigests) {
			diff = append(diff, "attestationDigests")
		}
		if len(diff) > 0 {
			return fail(item, ErrMismatch, "%s differ from log entry %d", strings.Join(diff, ", "), d.LogIndex)
		}
		if d.Verdict != "allowed" && d.Verdict != "denied" {
			return fail(item, ErrMismatch, "verdict %q is neither allowed nor denied", trunc(d.Verdict))
		}
		v.verdicts[d.RequestID] = append(v.verdicts[d.RequestID], d.Verdict)
		v.res.Decisions = append(v.res.Decisions, VerifiedDecision{RequestID: d.RequestID, Verdict: d.Verdict, LogIndex: d.LogIndex})
	}
	return nil
}

// unreferenced refuses log entries no attestation or decision claims: they would be
// bytes that nothing checks against the rest of the bundle.
func (v *verification) unreferenced(context.Context, options) error {
	for _, e := range v.b.LogEntries {
		if _, ok := v.used[e.Index]; !ok {
			return fail(fmt.Sprintf("log entry %d", e.Index), ErrMismatch, "no attestation or decision of the bundle refers to it")
		}
	}
	return nil
}

func (v *verification) records(context.Context, options) error {
	n, err := openNote(v.b.Records, v.logV)
	if err != nil {
		return fail("records", ErrCheckpoint, "signature invalid: %v", err)
	}
	want, err := RecordsText(v.b, v.cp)
	if err != nil {
		return fail("records", ErrMismatch, "%v", err)
	}
	if n.Text != want {
		return fail("records", ErrMismatch, "the decisions or promotions are not those the log key signed for this digest and checkpoint")
	}
	return nil
}

func (v *verification) promotions(context.Context, options) error {
	for i, p := range v.b.Promotions {
		item := fmt.Sprintf("promotion %d (%s)", i+1, trunc(p.RequestID))
		var need string
		switch p.Status {
		case "requested", "failed":
		case "allowed", "completed":
			need = "allowed"
		case "denied":
			need = "denied"
		default:
			return fail(item, ErrMismatch, "unknown status %q", trunc(p.Status))
		}
		if need != "" && !slices.Contains(v.verdicts[p.RequestID], need) {
			return fail(item, ErrMismatch, "status %s without a logged %s decision for the request", p.Status, need)
		}
		if p.DestinationImage != "" && !strings.HasSuffix(p.DestinationImage, "@"+v.b.Digest) {
			return fail(item, ErrMismatch, "destination image %q is not pinned to %s", trunc(p.DestinationImage), v.b.Digest)
		}
		v.res.Promotions = append(v.res.Promotions, VerifiedPromotion{
			RequestID: p.RequestID, Status: p.Status, DestinationImage: p.DestinationImage,
		})
	}
	return nil
}

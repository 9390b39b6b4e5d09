package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// Document identity.
const (
	APIVersion = "custody.dev/v1"
	Kind       = "PromotionPolicy"
)

// Bounds on a policy document.
const (
	// MaxDocumentSize bounds a policy file.
	MaxDocumentSize = 64 << 10
	// DefaultCostLimit bounds the runtime cost of one condition over one attestation.
	DefaultCostLimit uint64 = 1_000_000

	// MaxWaivers bounds spec.waivers.
	MaxWaivers = 1000
	// MaxVEXDocuments bounds spec.vex, and MaxVEXDocumentSize each inline document.
	MaxVEXDocuments    = 64
	MaxVEXDocumentSize = 32 << 10

	maxDestinations   = 64
	maxPatternLen     = 256
	maxAuthorities    = 32
	maxKeysPerAuth    = 64
	maxRequirements   = 64
	maxConditionLen   = 4096
	maxPredicateType  = 512
	maxPatternSegment = 32
	maxThreshold      = maxAuthorities * maxKeysPerAuth
	maxMaxAge         = 10 * 365 * 24 * time.Hour
	maxWaiverIDLen    = 128
	maxOwnerLen       = 256
	maxReasonLen      = 1024
	maxPURLLen        = 1024
)

// ErrInvalid marks a policy document that cannot be used; the error says what is wrong.
var ErrInvalid = errors.New("invalid policy")

// Authority is a named set of key ids whose signatures count.
type Authority struct {
	Name   string   `json:"name"`
	KeyIDs []string `json:"keyIds"`
}

// Requirement is one piece of evidence a promotion needs, with defaults resolved.
type Requirement struct {
	Name string `json:"name"`
	// PredicateType is the in-toto predicate type that must be attested.
	PredicateType string `json:"predicateType"`
	// Condition is an optional CEL expression of type bool over the statement.
	Condition string `json:"condition,omitempty"`
	// Authorities names which of the spec's authorities may sign it; empty means any of
	// them (or any trusted key when the spec names none).
	Authorities []string `json:"authorities,omitempty"`
	// Required is false for an advisory requirement (YAML required: false): it is
	// evaluated and reported, and never changes whether a promotion is allowed.
	Required bool `json:"required"`
	// Threshold is how many distinct allowed keys must have signed attestations that
	// satisfy the condition (YAML threshold, default 1).
	Threshold int `json:"threshold"`
	// MaxAge, when positive, ignores attestations whose evidence time (the earlier of
	// when it was signed and the time its statement claims) is older than now-MaxAge
	// (YAML maxAge, a Go duration such as 720h).
	MaxAge time.Duration `json:"maxAge,omitempty"`
}

// requirement is a Requirement with its condition compiled and authorities resolved.
type requirement struct {
	Requirement
	cond *compiled
	// keys are the key ids that count; nil means any trusted key.
	keys map[string]bool
}

// Policy is a parsed and compiled policy document. It is safe for concurrent use.
type Policy struct {
	name         string
	digest       string
	raw          []byte
	destinations []pattern
	authorities  []Authority
	requirements []requirement
	waivers      []Waiver
	vex          []vexEntry
	now          func() time.Time
}

type options struct {
	costLimit uint64
	now       func() time.Time
}

// Option configures Parse and Load.
type Option func(*options) error

// WithCostLimit bounds the runtime cost of evaluating one condition over one
// attestation; an evaluation that exceeds it is an error, and so a denial.
func WithCostLimit(n uint64) Option {
	return func(o *options) error {
		if n == 0 {
			return errors.New("policy: cost limit must be positive")
		}
		o.costLimit = n
		return nil
	}
}

// WithClock sets the clock Parse checks waiver expiries against (at most a year ahead)
// and Lint judges them by; the default is time.Now. Evaluate uses Input.Now instead.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("policy: nil clock")
		}
		o.now = now
		return nil
	}
}

// Load reads and parses the policy file at path.
func Load(path string, opts ...Option) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", path, err)
	}
	p, err := Parse(data, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

var keyIDRE = regexp.MustCompile(`^[a-f0-9]{64}$`)

// Parse decodes, validates and compiles one policy document.
func Parse(data []byte, opts ...Option) (*Policy, error) {
	o := options{costLimit: DefaultCostLimit, now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: document exceeds the %d-byte limit; split it into several policies", ErrInvalid, MaxDocumentSize)
	}
	if err := singleDocument(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var doc document
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	v, err := doc.validate(o.now())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, displayName(doc.Metadata.Name), err)
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: cel environment: %w", err)
	}
	sum := sha256.Sum256(data)
	p := &Policy{
		name:        doc.Metadata.Name,
		digest:      "sha256:" + hex.EncodeToString(sum[:]),
		raw:         bytes.Clone(data),
		authorities: doc.Spec.Authorities,
		waivers:     v.waivers,
		vex:         v.vex,
		now:         o.now,
	}
	for _, d := range doc.Spec.Destinations {
		p.destinations = append(p.destinations, parsePattern(d))
	}
	auth := map[string][]string{}
	for _, a := range doc.Spec.Authorities {
		auth[a.Name] = a.KeyIDs
	}
	var errs []error
	for i, r := range v.requirements {
		cr := requirement{Requirement: r}
		names := r.Authorities
		if len(names) == 0 {
			for _, a := range doc.Spec.Authorities {
				names = append(names, a.Name)
			}
		}
		if len(names) > 0 {
			cr.keys = map[string]bool{}
			for _, n := range names {
				for _, k := range auth[n] {
					cr.keys[k] = true
				}
			}
		}
		if strings.TrimSpace(r.Condition) != "" {
			c, err := compile(env, r.Condition, o.costLimit)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.requirements[%d] (%s).condition: %w", i, r.Name, err))
				continue
			}
			cr.cond = c
		}
		p.requirements = append(p.requirements, cr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, displayName(doc.Metadata.Name), err)
	}
	return p, nil
}

func displayName(n string) string {
	if n == "" {
		return "policy without a name"
	}
	return "policy " + n
}

// singleDocument refuses YAML streams of several documents: only the first would be
// decoded, and an auditor reading the file would see rules that do not apply.
func singleDocument(data []byte) error {
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	var first any
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty document; write an apiVersion custody.dev/v1 PromotionPolicy")
		}
		return fmt.Errorf("decode: %w", err)
	}
	var next any
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document in the file; put one policy in each file")
	}
	return nil
}

// Name is metadata.name.
func (p *Policy) Name() string { return p.name }

// Digest is sha256:<hex> of the document's bytes, which decisions record.
func (p *Policy) Digest() string { return p.digest }

// Raw returns the document's bytes.
func (p *Policy) Raw() []byte { return bytes.Clone(p.raw) }

// Destinations lists the destination patterns, as written.
func (p *Policy) Destinations() []string {
	out := make([]string, len(p.destinations))
	for i, d := range p.destinations {
		out[i] = d.raw
	}
	return out
}

// Requirements lists the requirements, as written, with defaults resolved.
func (p *Policy) Requirements() []Requirement {
	out := make([]Requirement, len(p.requirements))
	for i, r := range p.requirements {
		out[i] = r.Requirement
		out[i].Authorities = slices.Clone(r.Authorities)
	}
	return out
}

// Waivers lists spec.waivers, expired ones too.
func (p *Policy) Waivers() []Waiver { return slices.Clone(p.waivers) }

// Matches reports whether the policy governs the destination repository (for example
// registry.example.com/prod/app, without tag).
func (p *Policy) Matches(destination string) bool {
	_, ok := p.specificity(destination)
	return ok
}

// specificity is the score of p's most specific pattern matching destination.
func (p *Policy) specificity(destination string) (score, bool) {
	var best score
	found := false
	for _, d := range p.destinations {
		if !d.match(destination) {
			continue
		}
		if !found || best.less(d.score) {
			best, found = d.score, true
		}
	}
	return best, found
}

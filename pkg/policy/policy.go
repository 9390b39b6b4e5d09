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

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
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

	maxDestinations   = 64
	maxPatternLen     = 256
	maxAuthorities    = 32
	maxKeysPerAuth    = 64
	maxRequirements   = 64
	maxConditionLen   = 4096
	maxPredicateType  = 512
	maxPatternSegment = 32
)

// ErrInvalid marks a policy document that cannot be used; the error says what is wrong.
var ErrInvalid = errors.New("invalid policy")

// Authority is a named set of key ids whose signatures count.
type Authority struct {
	Name   string   `json:"name"`
	KeyIDs []string `json:"keyIds"`
}

// Requirement is one piece of evidence a promotion needs.
type Requirement struct {
	Name string `json:"name"`
	// PredicateType is the in-toto predicate type that must be attested.
	PredicateType string `json:"predicateType"`
	// Condition is an optional CEL expression of type bool over the statement.
	Condition string `json:"condition,omitempty"`
	// Authorities names which of the spec's authorities may sign it; empty means any of
	// them (or any trusted key when the spec names none).
	Authorities []string `json:"authorities,omitempty"`
}

type metadata struct {
	Name string `json:"name"`
}

type spec struct {
	Destinations []string      `json:"destinations"`
	Authorities  []Authority   `json:"authorities,omitempty"`
	Requirements []Requirement `json:"requirements"`
}

type document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       spec     `json:"spec"`
}

// requirement is a Requirement with its condition compiled and authorities resolved.
type requirement struct {
	Requirement
	program cel.Program
	// keys are the key ids that count; nil means any trusted key.
	keys map[string]bool
}

// Policy is a parsed and compiled policy document. It is safe for concurrent use.
type Policy struct {
	name         string
	digest       string
	raw          []byte
	destinations []pattern
	requirements []requirement
}

type options struct {
	costLimit uint64
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
	o := options{costLimit: DefaultCostLimit}
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
	if err := doc.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, displayName(doc.Metadata.Name), err)
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: cel environment: %w", err)
	}
	sum := sha256.Sum256(data)
	p := &Policy{
		name:   doc.Metadata.Name,
		digest: "sha256:" + hex.EncodeToString(sum[:]),
		raw:    bytes.Clone(data),
	}
	for _, d := range doc.Spec.Destinations {
		p.destinations = append(p.destinations, parsePattern(d))
	}
	auth := map[string][]string{}
	for _, a := range doc.Spec.Authorities {
		auth[a.Name] = a.KeyIDs
	}
	var errs []error
	for i, r := range doc.Spec.Requirements {
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
			prg, err := compile(env, r.Condition, o.costLimit)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.requirements[%d] (%s).condition: %w", i, r.Name, err))
				continue
			}
			cr.program = prg
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

func (d *document) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.APIVersion != APIVersion {
		bad("apiVersion %q: want %q", d.APIVersion, APIVersion)
	}
	if d.Kind != Kind {
		bad("kind %q: want %q", d.Kind, Kind)
	}
	if !nameRE.MatchString(d.Metadata.Name) {
		bad("metadata.name %q: use 1-63 lowercase letters, digits, '-' or '.'", d.Metadata.Name)
	}
	s := d.Spec
	switch {
	case len(s.Destinations) == 0:
		bad("spec.destinations: name at least one destination pattern (\"**\" matches every repository)")
	case len(s.Destinations) > maxDestinations:
		bad("spec.destinations: %d patterns exceed the limit of %d", len(s.Destinations), maxDestinations)
	}
	for i, dst := range s.Destinations {
		if err := validatePattern(dst); err != nil {
			bad("spec.destinations[%d] %q: %w", i, dst, err)
		}
	}
	if len(s.Authorities) > maxAuthorities {
		bad("spec.authorities: %d exceed the limit of %d", len(s.Authorities), maxAuthorities)
	}
	authNames := map[string]bool{}
	for i, a := range s.Authorities {
		if !nameRE.MatchString(a.Name) {
			bad("spec.authorities[%d].name %q: use 1-63 lowercase letters, digits, '-' or '.'", i, a.Name)
		}
		if authNames[a.Name] {
			bad("spec.authorities[%d].name %q: duplicate", i, a.Name)
		}
		authNames[a.Name] = true
		if len(a.KeyIDs) == 0 || len(a.KeyIDs) > maxKeysPerAuth {
			bad("spec.authorities[%d] (%s).keyIds: list 1-%d key ids (hex sha256 of the public key's DER, as `custody keys` prints)", i, a.Name, maxKeysPerAuth)
		}
		for j, k := range a.KeyIDs {
			if !keyIDRE.MatchString(k) {
				bad("spec.authorities[%d] (%s).keyIds[%d] %q: want 64 lowercase hex characters", i, a.Name, j, k)
			}
		}
	}
	switch {
	case len(s.Requirements) == 0:
		bad("spec.requirements: name at least one; a policy that requires nothing would allow anything")
	case len(s.Requirements) > maxRequirements:
		bad("spec.requirements: %d exceed the limit of %d", len(s.Requirements), maxRequirements)
	}
	reqNames := map[string]bool{}
	for i, r := range s.Requirements {
		if !nameRE.MatchString(r.Name) {
			bad("spec.requirements[%d].name %q: use 1-63 lowercase letters, digits, '-' or '.'", i, r.Name)
		}
		if reqNames[r.Name] {
			bad("spec.requirements[%d].name %q: duplicate", i, r.Name)
		}
		reqNames[r.Name] = true
		if r.PredicateType == "" || len(r.PredicateType) > maxPredicateType || strings.ContainsAny(r.PredicateType, " \t\r\n") {
			bad("spec.requirements[%d] (%s).predicateType %q: want a predicate type URI such as https://slsa.dev/provenance/v1", i, r.Name, r.PredicateType)
		}
		if len(r.Condition) > maxConditionLen {
			bad("spec.requirements[%d] (%s).condition: %d characters exceed the limit of %d", i, r.Name, len(r.Condition), maxConditionLen)
		}
		for j, a := range r.Authorities {
			if !authNames[a] {
				bad("spec.requirements[%d] (%s).authorities[%d] %q: not declared in spec.authorities", i, r.Name, j, a)
			}
		}
		if len(r.Authorities) != len(slices.Compact(slices.Sorted(slices.Values(r.Authorities)))) {
			bad("spec.requirements[%d] (%s).authorities: duplicate names", i, r.Name)
		}
	}
	return errors.Join(errs...)
}

// CEL variable names available to conditions.
const (
	VarPredicate     = "predicate"
	VarStatement     = "statement"
	VarSubject       = "subject"
	VarPredicateType = "predicateType"
	VarKeyIDs        = "keyIds"
)

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(VarPredicate, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarStatement, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarSubject, cel.StringType),
		cel.Variable(VarPredicateType, cel.StringType),
		cel.Variable(VarKeyIDs, cel.ListType(cel.StringType)),
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
	)
}

func compile(env *cel.Env, expr string, costLimit uint64) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("has type %s, want bool (compare the value, for example `predicate.x == \"y\"`)", ast.OutputType())
	}
	prg, err := env.Program(ast,
		cel.CostLimit(costLimit),
		cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, err
	}
	return prg, nil
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

// Requirements lists the requirements, as written.
func (p *Policy) Requirements() []Requirement {
	out := make([]Requirement, len(p.requirements))
	for i, r := range p.requirements {
		out[i] = r.Requirement
		out[i].Authorities = slices.Clone(r.Authorities)
	}
	return out
}

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

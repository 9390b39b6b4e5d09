package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Errors For returns; both deny.
var (
	// ErrNoPolicy: no policy governs the destination.
	ErrNoPolicy = errors.New("no policy governs the destination")
	// ErrAmbiguous: several policies govern the destination equally specifically.
	ErrAmbiguous = errors.New("several policies govern the destination equally specifically")
)

// maxPolicyFiles bounds how many documents LoadDir reads.
const maxPolicyFiles = 1000

// Set is the policies of one installation; each destination is governed by the policy
// with the most specific matching pattern. It is safe for concurrent use.
type Set struct {
	policies []*Policy
}

// NewSet returns a Set of policies, which must have distinct names.
func NewSet(policies ...*Policy) (*Set, error) {
	seen := map[string]bool{}
	for _, p := range policies {
		if p == nil {
			return nil, errors.New("policy set: nil policy")
		}
		if seen[p.name] {
			return nil, fmt.Errorf("policy set: two policies are named %q; names must be unique", p.name)
		}
		seen[p.name] = true
	}
	return &Set{policies: slices.Clone(policies)}, nil
}

// LoadDir parses every *.yaml and *.yml file directly in dir (hidden files aside). One
// invalid file fails the whole load: skipping it could let a laxer policy govern the
// destinations it was meant to.
func LoadDir(dir string, opts ...Option) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy set: %w", err)
	}
	var (
		policies []*Policy
		errs     []error
		files    int
	)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || (!strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml")) {
			continue
		}
		if files++; files > maxPolicyFiles {
			return nil, fmt.Errorf("policy set: more than %d policy files in %s", maxPolicyFiles, dir)
		}
		p, err := Load(filepath.Join(dir, n), opts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policies = append(policies, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policy set %s: %w", dir, err)
	}
	return NewSet(policies...)
}

// Policies lists the set's policies.
func (s *Set) Policies() []*Policy { return slices.Clone(s.policies) }

// For returns the policy governing the destination repository (without tag).
func (s *Set) For(destination string) (*Policy, error) {
	var (
		best  *Policy
		score score
		tied  []string
	)
	for _, p := range s.policies {
		sc, ok := p.specificity(destination)
		if !ok {
			continue
		}
		switch {
		case best == nil || score.less(sc):
			best, score, tied = p, sc, []string{p.name}
		case !sc.less(score):
			tied = append(tied, p.name)
		}
	}
	if best == nil {
		return nil, fmt.Errorf("destination %q: %w; add a policy whose spec.destinations match it", destination, ErrNoPolicy)
	}
	if len(tied) > 1 {
		slices.Sort(tied)
		return nil, fmt.Errorf("destination %q: %w (%s); make one pattern more specific", destination, ErrAmbiguous, strings.Join(tied, ", "))
	}
	return best, nil
}

// Evaluate decides with the policy governing in.Destination; with none, or several, it
// denies.
func (s *Set) Evaluate(ctx context.Context, in Input) Decision {
	p, err := s.For(in.Destination)
	if err != nil {
		return Deny(err.Error())
	}
	return p.Evaluate(ctx, in)
}

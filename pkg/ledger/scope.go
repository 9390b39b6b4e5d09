package ledger

import (
	"fmt"
	"strings"
	"unicode"
)

// Bounds on scopes and repository prefixes.
const (
	// MaxScopePrefixes bounds the repository prefixes of one scope.
	MaxScopePrefixes = 64
	// MaxRepositoryPrefix bounds one repository prefix.
	MaxRepositoryPrefix = 512
)

// Scope says which artifacts a query may see: every one (All), or those whose image lies
// under one of RepositoryPrefixes (see UnderRepository). The zero Scope is refused with
// ErrInvalid rather than read as "everything" or "nothing", so a caller that forgot to
// set it finds out at once; the auth layer passes a scoped token's prefixes, and
// AllRepositories for an unscoped one.
//
// An artifact's image is the one Provenance.Image names: its first build's, else its
// first attestation's, scan's or promotion's. An artifact with no image is outside every
// prefix scope.
type Scope struct {
	All                bool
	RepositoryPrefixes []string
}

// AllRepositories is the scope of an unscoped caller.
func AllRepositories() Scope { return Scope{All: true} }

// RepositoryScope is the scope of the given repository prefixes.
func RepositoryScope(prefixes ...string) Scope { return Scope{RepositoryPrefixes: prefixes} }

// Allows reports whether an artifact with this image is in the scope.
func (s Scope) Allows(image string) bool {
	if s.All {
		return true
	}
	for _, p := range s.RepositoryPrefixes {
		if UnderRepository(image, p) {
			return true
		}
	}
	return false
}

// Validate reports what is wrong with the scope, wrapping ErrInvalid.
func (s Scope) Validate() error {
	var v validator
	v.scope(s)
	return v.err()
}

// fingerprint renders the scope for Fingerprint.
func (s Scope) fingerprint() string {
	if s.All {
		return "*"
	}
	return listFingerprint(s.RepositoryPrefixes)
}

func (v *validator) scope(s Scope) {
	switch {
	case s.All && len(s.RepositoryPrefixes) > 0:
		v.fail("scope: set All or RepositoryPrefixes, not both")
	case !s.All && len(s.RepositoryPrefixes) == 0:
		v.fail("scope is empty: pass ledger.AllRepositories() for an unscoped caller, or the repository prefixes it may see")
	case len(s.RepositoryPrefixes) > MaxScopePrefixes:
		v.fail("scope has %d repository prefixes, more than %d", len(s.RepositoryPrefixes), MaxScopePrefixes)
	default:
		for _, p := range s.RepositoryPrefixes {
			if why := repositoryPrefixProblem(p); why != "" {
				v.fail("scope: repository prefix %q %s", truncate(p), why)
			}
		}
	}
}

// UnderRepository reports whether an image reference lies under a repository prefix,
// matching whole path segments: "reg.example/team" covers "reg.example/team",
// "reg.example/team/app:1" and "reg.example/team@sha256:...", but not
// "reg.example/teamwork/app" nor "reg.example/team:5000/app". The comparison is exact
// (case-sensitive) on the references as recorded; nothing is normalised.
func UnderRepository(ref, prefix string) bool {
	if prefix == "" || !strings.HasPrefix(ref, prefix) {
		return false
	}
	rest := ref[len(prefix):]
	switch {
	case rest == "":
		return true
	case rest[0] == '/' || rest[0] == '@':
		return true
	case rest[0] == ':':
		// A tag, not a registry port: a tag holds no '/'.
		return !strings.Contains(rest, "/")
	}
	return false
}

// CheckRepositoryPrefix returns an ErrInvalid error unless p is a repository path
// ("reg.example:5000/team/app", "reg.example/team"): 1-512 bytes of printable ASCII
// without spaces, '@', empty segments or a trailing '/', with ':' only in the first
// segment (a registry port).
func CheckRepositoryPrefix(p string) error {
	if why := repositoryPrefixProblem(p); why != "" {
		return fmt.Errorf("%w: repository prefix %q %s", ErrInvalid, truncate(p), why)
	}
	return nil
}

func repositoryPrefixProblem(p string) string {
	switch {
	case p == "":
		return "is empty"
	case len(p) > MaxRepositoryPrefix:
		return fmt.Sprintf("is longer than %d bytes", MaxRepositoryPrefix)
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		return "has an empty path segment (a leading, trailing or doubled '/')"
	case strings.ContainsRune(p, '@'):
		return "names a digest: give a repository, without '@'"
	}
	for _, c := range p {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) || c == ' ' {
			return "has a character that is not printable ASCII"
		}
	}
	if i := strings.IndexByte(p, '/'); i >= 0 && strings.Contains(p[i:], ":") {
		return "has a tag: give a repository, without ':tag'"
	}
	return ""
}

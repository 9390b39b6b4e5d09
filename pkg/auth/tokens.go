package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"time"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// Static API tokens.
const (
	// TokenPrefix starts every static token, so that a bearer credential is recognised
	// as one (and a leaked token is easy to find with a secrets scanner).
	TokenPrefix = "custody_"
	// tokenRandomBytes is the token's entropy.
	tokenRandomBytes = 32
	// TokenFileAPIVersion and TokenFileKind head a token file.
	TokenFileAPIVersion = "custody.dev/v1"
	TokenFileKind       = "APITokens"
	// MaxTokenFileSize and MaxTokens bound a token file.
	MaxTokenFileSize = 1 << 20
	MaxTokens        = 10000
)

// tokenLen is the length of a generated token: the prefix and 43 base64url characters.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenRandomBytes)

// GenerateToken returns a new static token: "custody_" and the unpadded base64url of 32
// random bytes. Show it to its owner once; store only HashToken of it.
func GenerateToken() string {
	var b [tokenRandomBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken returns the lower-case hex sha256 of token, the form a token file stores.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// checkTokenShape refuses anything that GenerateToken could not have produced, before
// it is hashed and looked up.
func checkTokenShape(token string) error {
	if len(token) != tokenLen || token[:len(TokenPrefix)] != TokenPrefix {
		return errors.New("not a Custody API token (custody_ and 43 base64url characters)")
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token[len(TokenPrefix):]); err != nil {
		return errors.New("not a Custody API token (custody_ and 43 base64url characters)")
	}
	return nil
}

// TokenFile is the YAML document that lists static tokens, by hash:
//
//	apiVersion: custody.dev/v1
//	kind: APITokens
//	tokens:
//	  - name: ci-team-a
//	    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    roles: [pipeline]
//	    scopes: [registry.example:5000/team-a]   # optional; omit for every repository
//	    notAfter: "2026-12-31T00:00:00Z"         # optional
type TokenFile struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Tokens     []TokenEntry `json:"tokens"`
}

// TokenEntry is one static token.
type TokenEntry struct {
	// Name identifies the token in the audit log (principal id "token:<name>").
	Name string `json:"name"`
	// SHA256 is HashToken of the token: 64 lower-case hex digits.
	SHA256 string `json:"sha256"`
	Roles  []Role `json:"roles"`
	// Scopes limit the token to repositories under these prefixes (NormalizeScope);
	// omitted means every repository. An empty list is refused as ambiguous.
	Scopes []string `json:"scopes,omitempty"`
	// NotAfter, when set, is the instant the token stops working.
	NotAfter *time.Time `json:"notAfter,omitempty"`
}

var (
	tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	sha256HexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// validate checks one entry and returns its normalised scopes.
func (e TokenEntry) validate() ([]string, error) {
	if !tokenNameRE.MatchString(e.Name) {
		return nil, errors.New("name must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit")
	}
	if !sha256HexRE.MatchString(e.SHA256) {
		return nil, errors.New("sha256 must be the 64 lower-case hex digits of the token's sha256 (custody token hash)")
	}
	scopes, err := validateGrant(e.Roles, e.Scopes)
	if err != nil {
		return nil, err
	}
	if e.NotAfter != nil && e.NotAfter.IsZero() {
		return nil, errors.New("notAfter is the zero time: omit it or give an RFC 3339 instant")
	}
	return scopes, nil
}

// TokenStore holds static tokens by hash. It is safe for concurrent use.
type TokenStore struct {
	byHash map[string]storedToken
}

type storedToken struct {
	name     string
	roles    []Role
	scopes   []string
	notAfter time.Time
}

// NewTokenStore validates entries (unique names and hashes, known roles, sane scopes)
// and returns a store of them. An error names the bad entry.
func NewTokenStore(entries ...TokenEntry) (*TokenStore, error) {
	if len(entries) > MaxTokens {
		return nil, fmt.Errorf("%d tokens: at most %d", len(entries), MaxTokens)
	}
	s := &TokenStore{byHash: make(map[string]storedToken, len(entries))}
	names := map[string]bool{}
	for i, e := range entries {
		label := fmt.Sprintf("token %d", i+1)
		if tokenNameRE.MatchString(e.Name) {
			label = fmt.Sprintf("token %d (%s)", i+1, e.Name)
		}
		scopes, err := e.validate()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		if names[e.Name] {
			return nil, fmt.Errorf("%s: name %s is used twice", label, e.Name)
		}
		if _, dup := s.byHash[e.SHA256]; dup {
			return nil, fmt.Errorf("%s: the same token hash appears twice; every token must be distinct", label)
		}
		names[e.Name] = true
		t := storedToken{name: e.Name, roles: slices.Clone(e.Roles), scopes: scopes}
		if e.NotAfter != nil {
			t.notAfter = *e.NotAfter
		}
		s.byHash[e.SHA256] = t
	}
	return s, nil
}

// ParseTokens decodes a token file's content strictly (unknown or repeated fields, a
// second YAML document, a wrong apiVersion or kind are errors) and validates it.
func ParseTokens(data []byte) (*TokenStore, error) {
	f, err := decodeTokenFile(data)
	if err != nil {
		return nil, err
	}
	return NewTokenStore(f.Tokens...)
}

// ParseTokenFile reads a token file as ParseTokens does and returns its entries, for
// tools that edit the file (adding a token keeps the others as they are).
func ParseTokenFile(data []byte) (TokenFile, error) {
	f, err := decodeTokenFile(data)
	if err != nil {
		return TokenFile{}, err
	}
	if _, err := NewTokenStore(f.Tokens...); err != nil {
		return TokenFile{}, err
	}
	return f, nil
}

func decodeTokenFile(data []byte) (TokenFile, error) {
	var f TokenFile
	if len(data) > MaxTokenFileSize {
		return f, fmt.Errorf("token file larger than %d bytes", MaxTokenFileSize)
	}
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	var first, next any
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return f, errors.New("empty token file: write apiVersion custody.dev/v1, kind APITokens and tokens")
		}
		return f, fmt.Errorf("decode token file: %w", err)
	}
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return f, errors.New("more than one YAML document in the token file")
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return f, fmt.Errorf("decode token file: %w", err)
	}
	if f.APIVersion != TokenFileAPIVersion || f.Kind != TokenFileKind {
		return f, fmt.Errorf("token file: apiVersion %q kind %q: want %s %s", bounded(f.APIVersion), bounded(f.Kind), TokenFileAPIVersion, TokenFileKind)
	}
	return f, nil
}

// LoadTokenFile reads and parses the token file at path.
func LoadTokenFile(path string) (*TokenStore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxTokenFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	s, err := ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// MarshalTokenFile validates entries as NewTokenStore does and encodes them as a token
// file, for tools that issue tokens.
func MarshalTokenFile(entries ...TokenEntry) ([]byte, error) {
	if _, err := NewTokenStore(entries...); err != nil {
		return nil, err
	}
	return yaml.Marshal(TokenFile{APIVersion: TokenFileAPIVersion, Kind: TokenFileKind, Tokens: entries})
}

// Len returns the number of tokens.
func (s *TokenStore) Len() int { return len(s.byHash) }

// Authenticate returns the principal of token at now. An unknown, malformed or expired
// token is an error wrapping ErrUnauthenticated; the error never contains the token.
func (s *TokenStore) Authenticate(token string, now time.Time) (Principal, error) {
	if err := checkTokenShape(token); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	t, ok := s.byHash[HashToken(token)]
	if !ok {
		return Principal{}, fmt.Errorf("%w: unknown API token", ErrUnauthenticated)
	}
	if !t.notAfter.IsZero() && !now.Before(t.notAfter) {
		return Principal{}, fmt.Errorf("%w: API token %s expired at %s", ErrUnauthenticated, t.name, t.notAfter.UTC().Format(time.RFC3339))
	}
	return Principal{
		ID:      "token:" + t.name,
		Name:    t.name,
		Method:  MethodToken,
		Roles:   slices.Clone(t.roles),
		Scopes:  slices.Clone(t.scopes),
		Expires: t.notAfter,
	}, nil
}

// validateGrant checks roles (at least one, known, no repeats) and scopes (nil, or a
// non-empty list of distinct valid scopes; none for admin) and returns the normalised
// scopes.
func validateGrant(roles []Role, scopeList []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, errors.New("no roles: give at least one of auditor, pipeline, admin")
	}
	seen := map[Role]bool{}
	for _, r := range roles {
		if _, err := ParseRole(string(r)); err != nil {
			return nil, err
		}
		if seen[r] {
			return nil, fmt.Errorf("role %s listed twice", r)
		}
		seen[r] = true
	}
	if scopeList != nil && len(scopeList) == 0 {
		return nil, errors.New("scopes is an empty list: omit it for every repository, or list repository prefixes")
	}
	if len(scopeList) > 0 && seen[RoleAdmin] {
		return nil, errors.New("the admin role cannot be scoped: administration is not about one repository")
	}
	if len(scopeList) > 100 {
		return nil, errors.New("more than 100 scopes")
	}
	scopes := make([]string, 0, len(scopeList))
	for _, s := range scopeList {
		n, err := NormalizeScope(s)
		if err != nil {
			return nil, err
		}
		if slices.Contains(scopes, n) {
			return nil, fmt.Errorf("scope %s listed twice", n)
		}
		scopes = append(scopes, n)
	}
	return scopes, nil
}

package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
)

func TestGenerateToken(t *testing.T) {
	re := regexp.MustCompile(`^custody_[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 50 {
		tok := auth.GenerateToken()
		if !re.MatchString(tok) {
			t.Fatalf("token %q has the wrong shape", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "custody_"))
		if err != nil || len(raw) != 32 {
			t.Fatalf("token does not carry 32 bytes: %v", err)
		}
		if seen[tok] {
			t.Fatal("token repeated")
		}
		seen[tok] = true
	}
	// sha256("custody_test") computed independently.
	if got := auth.HashToken("custody_test"); got != "b1c88ff24c6f3e2ce4b1c6d0a7673c8e833e9770e76793ba396c8d6c3b2df7ed" {
		t.Errorf("HashToken = %q", got)
	}
}

const validFile = `apiVersion: custody.dev/v1
kind: APITokens
tokens:
  - name: ci-team-a
    sha256: %s
    roles: [pipeline]
    scopes: [Registry.Example:5000/team-a]
    notAfter: "2030-01-01T00:00:00Z"
  - name: auditor
    sha256: %s
    roles: [auditor]
`

func TestParseTokens(t *testing.T) {
	ci, aud := auth.GenerateToken(), auth.GenerateToken()
	s, err := auth.ParseTokens([]byte(fmt.Sprintf(validFile, auth.HashToken(ci), auth.HashToken(aud))))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("%d tokens", s.Len())
	}
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	p, err := s.Authenticate(ci, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "token:ci-team-a" || p.Method != auth.MethodToken || len(p.Roles) != 1 || p.Roles[0] != auth.RolePipeline ||
		len(p.Scopes) != 1 || p.Scopes[0] != "registry.example:5000/team-a" || !p.Expires.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("principal %+v", p)
	}
	if p, err := s.Authenticate(aud, now); err != nil || len(p.Scopes) != 0 || !p.Expires.IsZero() {
		t.Errorf("unscoped token without expiry: %+v, %v", p, err)
	}
	for name, tok := range map[string]string{
		"unknown":   auth.GenerateToken(),
		"truncated": ci[:len(ci)-1],
		"padded":    ci + "=",
		"no prefix": strings.TrimPrefix(ci, "custody_") + "xxxxxxxx",
		"bad chars": ci[:len(ci)-1] + "!",
		"empty":     "",
	} {
		if _, err := s.Authenticate(tok, now); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s token: %v, want ErrUnauthenticated", name, err)
		}
	}
	_, err = s.Authenticate(ci, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("at notAfter: %v, want expired", err)
	}
	if strings.Contains(err.Error(), ci) || strings.Contains(err.Error(), auth.HashToken(ci)) {
		t.Errorf("error holds the token or its hash: %v", err)
	}
}

func TestParseTokensErrors(t *testing.T) {
	h1, h2 := auth.HashToken(auth.GenerateToken()), auth.HashToken(auth.GenerateToken())
	head := "apiVersion: custody.dev/v1\nkind: APITokens\ntokens:\n"
	entry := func(name, hash, rest string) string {
		return "  - name: " + name + "\n    sha256: " + hash + "\n" + rest
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", "empty token file"},
		{"wrong kind", "apiVersion: custody.dev/v1\nkind: Tokens\ntokens: []\n", "kind"},
		{"wrong version", "apiVersion: v2\nkind: APITokens\ntokens: []\n", "apiVersion"},
		{"unknown top field", head + entry("a", h1, "    roles: [auditor]\n") + "extra: 1\n", "unknown field"},
		{"unknown entry field", head + entry("a", h1, "    roles: [auditor]\n    token: custody_x\n"), "unknown field"},
		{"duplicate key", head + entry("a", h1, "    roles: [auditor]\n    roles: [admin]\n"), "roles"},
		{"two documents", head + entry("a", h1, "    roles: [auditor]\n") + "---\n" + head, "more than one YAML document"},
		{"duplicate name", head + entry("a", h1, "    roles: [auditor]\n") + entry("a", h2, "    roles: [auditor]\n"), "token 2 (a): name a is used twice"},
		{"duplicate hash", head + entry("a", h1, "    roles: [auditor]\n") + entry("b", h1, "    roles: [auditor]\n"), "token 2 (b): the same token hash"},
		{"unknown role", head + entry("a", h1, "    roles: [root]\n"), `token 1 (a): unknown role "root"`},
		{"no roles", head + entry("a", h1, ""), "token 1 (a): no roles"},
		{"repeated role", head + entry("a", h1, "    roles: [auditor, auditor]\n"), "listed twice"},
		{"bad hash", head + entry("a", "abc", "    roles: [auditor]\n"), "token 1 (a): sha256"},
		{"upper-case hash", head + entry("a", strings.ToUpper(h1), "    roles: [auditor]\n"), "token 1 (a): sha256"},
		{"bad name", head + entry("-a", h1, "    roles: [auditor]\n"), "token 1: name"},
		{"empty scopes", head + entry("a", h1, "    roles: [pipeline]\n    scopes: []\n"), "scopes is an empty list"},
		{"bad scope", head + entry("a", h1, "    roles: [pipeline]\n    scopes: [reg.example/team-a/]\n"), "token 1 (a): scope"},
		{"repeated scope", head + entry("a", h1, "    roles: [pipeline]\n    scopes: [reg.example/a, REG.example/a]\n"), "listed twice"},
		{"scoped admin", head + entry("a", h1, "    roles: [admin]\n    scopes: [reg.example/a]\n"), "admin role cannot be scoped"},
		{"bad notAfter", head + entry("a", h1, "    roles: [auditor]\n    notAfter: tomorrow\n"), "decode"},
		{"too large", head + strings.Repeat("#", auth.MaxTokenFileSize), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.ParseTokens([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadTokenFile(t *testing.T) {
	tok := auth.GenerateToken()
	data, err := auth.MarshalTokenFile(auth.TokenEntry{Name: "dev", SHA256: auth.HashToken(tok),
		Roles: []auth.Role{auth.RoleAdmin, auth.RoleAuditor, auth.RolePipeline}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), tok) {
		t.Fatalf("the token file holds the token itself")
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := auth.LoadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Authenticate(tok, time.Now()); err != nil || p.ID != "token:dev" || len(p.Roles) != 3 {
		t.Errorf("round trip: %+v, %v", p, err)
	}
	if _, err := auth.LoadTokenFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := auth.MarshalTokenFile(auth.TokenEntry{Name: "x", SHA256: "nothex", Roles: []auth.Role{auth.RoleAdmin}}); err == nil {
		t.Error("MarshalTokenFile accepted an invalid entry")
	}
}

// FuzzLoadTokens: any input either parses into a store whose tokens all have valid
// names, or fails; never a panic.
func FuzzLoadTokens(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(validFile, auth.HashToken("a"), auth.HashToken("b"))))
	f.Add([]byte("apiVersion: custody.dev/v1\nkind: APITokens\ntokens: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := auth.ParseTokens(data)
		if err != nil {
			if s != nil {
				t.Fatal("a store and an error")
			}
			return
		}
		if s.Len() > auth.MaxTokens {
			t.Fatalf("%d tokens", s.Len())
		}
		// A parsed file re-parses identically.
		if _, err := auth.ParseTokens(data); err != nil {
			t.Fatalf("second parse: %v", err)
		}
	})
}

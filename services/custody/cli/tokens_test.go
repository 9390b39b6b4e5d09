package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
)

// tokens create adds a token to the file without disturbing the others, keeps only its
// hash, prints the token once, and the file authenticates it with the roles, scopes and
// expiry given.
func TestTokensCreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	ci, stderr, code := run(t, "tokens", "create", "--name", "ci", "--role", "pipeline", "--scope", "registry.example/team-a", "--file", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	audit, _, code := run(t, "tokens", "create", "--name", "audit", "--role", "auditor", "--expires", "1h", "--file", file)
	if code != 0 {
		t.Fatalf("second token: exit %d", code)
	}
	ci, audit = strings.TrimSpace(ci), strings.TrimSpace(audit)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), ci) || strings.Contains(string(data), audit) {
		t.Fatal("the token file holds a token, not only its hash")
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, %v; want 0600", info.Mode(), err)
	}
	store, err := auth.LoadTokenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Authenticate(ci, time.Now())
	if err != nil || p.ID != "token:ci" || len(p.Scopes) != 1 || !p.HasRole(auth.RolePipeline) {
		t.Errorf("ci token = %+v, %v", p, err)
	}
	p, err = store.Authenticate(audit, time.Now())
	if err != nil || !p.HasRole(auth.RoleAuditor) || p.Expires.IsZero() {
		t.Errorf("audit token = %+v, %v", p, err)
	}
	if _, err := store.Authenticate(audit, time.Now().Add(2*time.Hour)); err == nil {
		t.Error("the audit token works after its expiry")
	}
	for _, args := range [][]string{
		{"tokens", "create", "--name", "ci", "--role", "auditor", "--file", file}, // name taken
		{"tokens", "create", "--name", "x", "--file", file},                       // no role
		{"tokens", "create", "--role", "auditor", "--file", file},                 // no name
		{"tokens", "create", "--name", "x", "--role", "root", "--file", file},     // unknown role
		{"tokens", "create", "--name", "x", "--role", "admin", "--scope", "reg/a", "--file", file},
		{"tokens", "frobnicate"},
	} {
		if out, _, code := run(t, args...); code != 2 && code != 1 || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want a refusal and no token", args, code, out)
		}
	}
	after, _ := os.ReadFile(file)
	if string(after) != string(data) {
		t.Error("a refused create changed the token file")
	}
	// For services: the token goes to a file, and a second run changes nothing.
	tokFile := filepath.Join(t.TempDir(), "gate.token")
	for range 2 {
		if out, stderr, code := run(t, "tokens", "create", "--name", "gate", "--role", "auditor", "--file", file,
			"--token-file", tokFile, "--if-missing"); code != 0 || out != "" {
			t.Fatalf("tokens create --token-file: exit %d, stdout %q, stderr %s", code, out, stderr)
		}
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	if store, err := auth.LoadTokenFile(file); err != nil || store.Len() != 3 {
		t.Fatalf("token file after --if-missing twice: %v tokens, %v", store.Len(), err)
	} else if p, err := store.Authenticate(strings.TrimSpace(string(tok)), time.Now()); err != nil || p.ID != "token:gate" {
		t.Errorf("the token written to --token-file = %+v, %v", p, err)
	}
}

// custody dev's token: made once with every role, then the same on every start.
func TestDevToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	tok, file, err := devToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := devToken(dir)
	if err != nil || again != tok {
		t.Fatalf("second start: %q, %v; want the same token", again, err)
	}
	store, err := auth.LoadTokenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Authenticate(tok, time.Now())
	if err != nil || len(p.Roles) != len(auth.Roles()) {
		t.Fatalf("dev token = %+v, %v; want every role", p, err)
	}
}

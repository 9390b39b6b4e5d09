package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/services/ledger/pages"
)

func runTokens(_ context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "create" {
		return runTokensCreate(e, args[1:])
	}
	return usageErr("say what to do: `custody tokens create --name NAME --role auditor|pipeline|admin [--scope REPO]... [--expires 720h] [--file tokens.yaml]`")
}

// runTokensCreate makes a static API token, adds its hash (never the token) to the token
// file that servers read (CUSTODY_TOKENS_FILE), and prints the token once.
func runTokensCreate(e env, args []string) error {
	fs := newFlags(e, "tokens create", "tokens create --name NAME --role ROLE [--role ROLE]... [--scope REPO]... [--expires DURATION] [--file tokens.yaml]")
	name := fs.String("name", "", "the token's `name`, as the audit log shows it (token:NAME)")
	file := fs.String("file", "tokens.yaml", "token `file` to add it to (created if missing)")
	tokenFile := fs.String("token-file", "", "write the token to this `file` (mode 0600) instead of printing it, for services that read it (CUSTODY_LEDGER_TOKEN_FILE)")
	ifMissing := fs.Bool("if-missing", false, "do nothing when the token file already has a token of this name (and --token-file exists)")
	expires := fs.Duration("expires", 0, "the token stops working after this `duration` (0: never)")
	var roles []auth.Role
	var scopes []string
	fs.Func("role", "grant `ROLE`: auditor (read evidence), pipeline (publish builds, request promotions), admin (vulnerability database, keys); repeatable", func(s string) error {
		r, err := auth.ParseRole(s)
		if err != nil {
			return err
		}
		roles = append(roles, r)
		return nil
	})
	fs.Func("scope", "limit the token to repositories under `REPO` (for example registry.example/team-a); repeatable", func(s string) error {
		scopes = append(scopes, s)
		return nil
	})
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	if *name == "" || len(roles) == 0 {
		return usageErr("give the token a --name and at least one --role")
	}
	entry := auth.TokenEntry{Name: *name, Roles: roles, Scopes: scopes}
	if *expires < 0 {
		return usageErr("--expires %s is negative", *expires)
	}
	if *expires > 0 {
		t := time.Now().Add(*expires).UTC().Truncate(time.Second)
		entry.NotAfter = &t
	}
	if *ifMissing && hasToken(*file, *name) && (*tokenFile == "" || fileExists(*tokenFile)) {
		fmt.Fprintf(e.stderr, "%s already has a token named %q; nothing done\n", *file, *name)
		return nil
	}
	token, err := addToken(*file, entry)
	if err != nil {
		return err
	}
	if *tokenFile != "" {
		if err := os.WriteFile(*tokenFile, []byte(token+"\n"), 0o600); err != nil {
			return fmt.Errorf("--token-file: %w (the token is in %s: remove its entry and create it again)", err, *file)
		}
		fmt.Fprintf(e.stderr, "added token %q to %s; the token is in %s\n", *name, *file, *tokenFile)
		return nil
	}
	fmt.Fprintf(e.stderr, "added token %q to %s; it is shown once, here:\n", *name, *file)
	fmt.Fprintln(e.stdout, token)
	return nil
}

// hasToken reports whether the token file at path has a token named name.
func hasToken(path, name string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	f, err := auth.ParseTokenFile(data)
	if err != nil {
		return false
	}
	for _, t := range f.Tokens {
		if t.Name == name {
			return true
		}
	}
	return false
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// addToken generates a token for entry, adds entry with the token's hash to the token
// file at path (creating it, mode 0600), and returns the token. An entry of the same
// name is an error: tokens are replaced by removing the old entry first.
func addToken(path string, entry auth.TokenEntry) (string, error) {
	var entries []auth.TokenEntry
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("token file: %w", err)
	default:
		f, err := auth.ParseTokenFile(data)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		entries = f.Tokens
	}
	for _, old := range entries {
		if old.Name == entry.Name {
			return "", fmt.Errorf("%s already has a token named %q: remove it first to replace it", path, entry.Name)
		}
	}
	token := auth.GenerateToken()
	entry.SHA256 = auth.HashToken(token)
	entries = append(entries, entry)
	out, err := auth.MarshalTokenFile(entries...)
	if err != nil {
		return "", err
	}
	// Check the file as a server will read it before replacing the old one.
	if _, err := auth.ParseTokens(out); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(out); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return token, nil
}

// devToken returns the development admin token of custody dev's data directory dir,
// creating it (and the token file servers read) on first start: DIR/keys/dev-admin.token
// holds the token, DIR/keys/tokens.yaml its hash with every role.
func devToken(dir string) (token, tokenFile string, err error) {
	tokenPath := filepath.Join(dir, "keys", "dev-admin.token")
	tokenFile = filepath.Join(dir, "keys", "tokens.yaml")
	if data, err := os.ReadFile(tokenPath); err == nil {
		token = strings.TrimSpace(string(data))
		if _, err := os.Stat(tokenFile); err != nil {
			return "", "", fmt.Errorf("%s exists but %s does not: remove %s to make a new development token", tokenPath, tokenFile, tokenPath)
		}
		return token, tokenFile, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	token, err = addToken(tokenFile, auth.TokenEntry{Name: "dev-admin", Roles: auth.Roles()})
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(tokenPath, []byte(token+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return token, tokenFile, nil
}

// devPageGuard is the guard of custody dev's pages: the same tokens log in to a session.
func devPageGuard(tokenFile string, log *slog.Logger) (*auth.Guard, error) {
	tokens, err := auth.LoadTokenFile(tokenFile)
	if err != nil {
		return nil, err
	}
	sessions, err := auth.NewSessions()
	if err != nil {
		return nil, err
	}
	authn, err := auth.NewAuthenticator(auth.WithTokens(tokens), auth.WithSessions(sessions))
	if err != nil {
		return nil, err
	}
	return auth.NewGuard(authn, log.With("log", "audit"), auth.WithRateLimit(rate.Limit(1000), 2000),
		auth.WithSessionAuth(), auth.WithLoginRedirect(pages.LoginPath))
}

// devGuard is custody dev's API guard: the tokens of tokenFile, a generous rate limit
// (one developer, scripts and tests), audit records to log.
func devGuard(tokenFile string, log *slog.Logger) (*auth.Guard, error) {
	tokens, err := auth.LoadTokenFile(tokenFile)
	if err != nil {
		return nil, err
	}
	authn, err := auth.NewAuthenticator(auth.WithTokens(tokens))
	if err != nil {
		return nil, err
	}
	return auth.NewGuard(authn, log.With("log", "audit"), auth.WithRateLimit(rate.Limit(1000), 2000))
}

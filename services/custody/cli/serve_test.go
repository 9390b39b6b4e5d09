package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/signing"
)

var servedNames = []string{"ingest", "scanner", "attestor", "ledger", "gate", "promoter"}

func TestServeListsServices(t *testing.T) {
	for _, args := range [][]string{{"serve", "help"}, {"serve", "-h"}} {
		stdout, _, code := run(t, args...)
		if code != ExitOK {
			t.Errorf("%v exited %d, want 0", args, code)
		}
		for _, name := range servedNames {
			if !strings.Contains(stdout, "\n  "+name+" ") {
				t.Errorf("%v does not list %s:\n%s", args, name, stdout)
			}
		}
	}
	_, stderr, code := run(t, "serve")
	if code != ExitError || !strings.Contains(stderr, "name the service to run") || !strings.Contains(stderr, "\n  ledger ") {
		t.Errorf("serve without a service exited %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = run(t, "serve", "archivist")
	if code != ExitError || !strings.Contains(stderr, `unknown service "archivist"`) {
		t.Errorf("serve archivist exited %d, stderr:\n%s", code, stderr)
	}
}

// Every service gets the arguments after its name, and its own flags: -h lists them, and
// a flag error is the service's, with its exit code.
func TestServePassesArgumentsToTheService(t *testing.T) {
	serviceFlag := map[string]string{
		"ingest": "-http", "scanner": "-scan-timeout", "attestor": "-key",
		"ledger": "-db", "gate": "-evidence-wait", "promoter": "-policies",
	}
	for _, name := range servedNames {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := run(t, "serve", name, "-h")
			if code != ExitOK || !strings.Contains(stderr, "Usage: "+name+" [flags]") || !strings.Contains(stderr, serviceFlag[name]+" ") {
				t.Errorf("serve %s -h exited %d, stdout %q, stderr:\n%s", name, code, stdout, stderr)
			}
			_, stderr, code = run(t, "serve", name, "-frobnicate")
			if code != 2 || !strings.Contains(stderr, "flag provided but not defined: -frobnicate") ||
				!strings.Contains(stderr, "custody serve: "+name+" stopped with exit code 2") {
				t.Errorf("serve %s -frobnicate exited %d, stderr:\n%s", name, code, stderr)
			}
		})
	}
}

// A configuration the ledger refuses is reported in its JSON log and custody exits with
// the ledger's code.
func TestServeLedgerInvalidConfig(t *testing.T) {
	_, stderr, code := run(t, "serve", "ledger", "-trusted-keys", "k.pub", "-http", "nowhere")
	if code != 2 || !strings.Contains(stderr, `"msg":"invalid configuration"`) || !strings.Contains(stderr, `http address \"nowhere\"`) {
		t.Errorf("exited %d, stderr:\n%s", code, stderr)
	}
}

// `custody serve ledger` on a SQLite file: it serves /healthz and stops cleanly (exit 0)
// when its context is cancelled.
func TestServeLedgerSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ledger.db")
	stderr := serveLedger(t, db)
	if fi, err := os.Stat(db); err != nil || fi.Size() == 0 {
		t.Errorf("ledger database %s was not written: %v", db, err)
	}
	if !strings.Contains(stderr, `"db":"`+db+`"`) {
		t.Errorf("the ledger did not log its database %s:\n%s", db, stderr)
	}
}

// `custody serve ledger --db postgres://...` against CUSTODY_TEST_POSTGRES_DSN, in a
// schema of its own that is dropped afterwards.
func TestServeLedgerPostgres(t *testing.T) {
	dsn := os.Getenv("CUSTODY_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("CUSTODY_TEST_POSTGRES_DSN is not set: set it to a PostgreSQL URL (postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the ledger on PostgreSQL; CI does")
	}
	schema := "custody_test_" + eventstest.RandomID()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", "CUSTODY_TEST_POSTGRES_DSN", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close(ctx)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("CUSTODY_TEST_POSTGRES_DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	stderr := serveLedger(t, u.String())

	var tables int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables == 0 {
		t.Errorf("the ledger created no tables in schema %s", schema)
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(stderr, pw) {
		t.Error("the ledger logged the database password")
	}
}

// serveLedger runs `custody serve ledger` on db with an embedded NATS server, a trusted
// key and a free port, waits for GET /healthz to answer 200, stops it by cancelling its
// context, checks that it exited 0 and returns what it wrote to stderr.
func serveLedger(t *testing.T, db string) string {
	t.Helper()
	nats := eventstest.New(t)
	_, pub, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "ci.pub")
	if err := os.WriteFile(keyFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	token, err := addToken(tokens, auth.TokenEntry{Name: "audit", Roles: []auth.Role{auth.RoleAuditor}})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "ledger",
			"--db", db, "-http", addr, "-trusted-keys", keyFile, "-tokens", tokens,
			"-nats", nats.URL, "-stream", nats.Config.Stream, "-subject-prefix", nats.Config.Prefix, "-blob-bucket", nats.Bucket,
		}, &stdout, &stderr)
	}()

	healthy := false
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for !healthy && time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("custody serve ledger exited %d before it was healthy; stderr:\n%s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		healthy = resp.StatusCode == http.StatusOK
	}
	if !healthy {
		t.Fatalf("GET /healthz did not answer 200 within a minute; stderr:\n%s", stderr.String())
	}
	// Everything but the health check needs a token.
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"custody_wrong", http.StatusUnauthorized}, {token, http.StatusNotFound}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/artifacts/sha256:"+strings.Repeat("0", 64)+"/provenance", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("provenance with a token (%v): %d (request id %q), want %d", len(tc.token) > 0, resp.StatusCode, resp.Header.Get("X-Request-Id"), tc.want)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("custody serve ledger exited %d after cancel, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("custody serve ledger did not return within a minute of cancel; stderr:\n%s", stderr.String())
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the ledger still answers after it returned")
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
	out := stderr.String()
	if !strings.Contains(out, `"msg":"serving","service":"ledger","addr":"`+addr+`"`) {
		t.Errorf("no JSON log record of the ledger serving on %s:\n%s", addr, out)
	}
	return out
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// lockedBuffer is a bytes.Buffer that a service may write from several goroutines while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startDev starts a `custody dev` stack on cfg, stopped when the test ends, and sets
// CUSTODY_TOKEN to its development admin token so that CLI commands run in the test
// authenticate as the user's would.
func startDev(tb testing.TB, cfg devConfig) *devStack {
	tb.Helper()
	s := &devStack{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	if err := s.start(context.Background(), env{stdout: io.Discard, stderr: io.Discard}); err != nil {
		_ = s.shutdown(context.Background())
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.shutdown(context.Background()) })
	tb.Setenv("CUSTODY_TOKEN", devTokenOf(tb, cfg.data))
	return s
}

// devTokenOf reads the development admin token custody dev made in data.
func devTokenOf(tb testing.TB, data string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(data, "keys", "dev-admin.token"))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

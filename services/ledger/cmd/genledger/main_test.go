package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/services/ledger/internal/benchdata"
)

// TestRun generates a small database, reads its manifest back, and refuses to write
// over it without -force.
func TestRun(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "ledger.db")
	args := []string{"-db", db, "-artifacts", "30", "-seed", "5", "-batch", "8"}
	var stdout, stderr strings.Builder
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("genledger = %d; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"30 artifacts, 120 attestations", "query vuln", "GB on disk"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	m, err := benchdata.ReadManifest(benchdata.ManifestPath(db))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Artifacts != 30 || m.Config.Seed != 5 || m.Batch != 8 || m.Counts.Attestations != 120 || m.Generated <= 0 {
		t.Errorf("manifest = %+v; want the flags' configuration, 120 attestations and the time taken", m)
	}
	stderr.Reset()
	if code := run(context.Background(), args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "-force") {
		t.Errorf("genledger over an existing database = %d, %q; want 1 and a word about -force", code, stderr.String())
	}
	if code := run(context.Background(), append(args, "-force"), &stdout, &stderr); code != 0 {
		t.Errorf("genledger -force = %d; stderr:\n%s", code, stderr.String())
	}
	for _, bad := range [][]string{{}, {"-db", "postgres://x/y"}, {"-db", db, "extra"}} {
		if code := run(context.Background(), bad, &stdout, &stderr); code == 0 {
			t.Errorf("genledger %q succeeded; want a usage error", bad)
		}
	}
}

// Command genledger fills an empty ledger database with generated, realistic records
// for the auditors' query benchmarks (docs/benchmarks.md, "Auditors' queries"): by
// default 250,000 artifacts, each with a build, four attestations appended to the log,
// a scan, a package inventory of about a hundred Debian, PyPI, npm and Go packages and
// its history of events, 40% of them decided and most of those promoted; and a
// vulnerability database whose headline record matches 7% of them. It writes through
// the ledger's store (ledger.Store.WriteBatch), and next to a SQLite database a manifest
// (DB.manifest.json) saying what it generated and what the benchmark's queries must find.
//
//	go run ./services/ledger/cmd/genledger -db .data/bench-audit/ledger.db
//	go run ./services/ledger/cmd/genledger -db 'postgres://…' -manifest ledger.manifest.json -artifacts 10000
//
// The same flags always generate the same records. scripts/bench-audit.sh runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
	"github.com/custody-dev/custody/services/ledger/internal/benchdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("genledger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "the ledger database to fill: a SQLite `file` (created; must not exist) or a postgres:// URL (an empty database)")
	manifest := fs.String("manifest", "", "where to write the manifest (default DB.manifest.json; required for PostgreSQL)")
	force := fs.Bool("force", false, "remove an existing SQLite database (and its manifest) first")
	var cfg benchdata.Config
	fs.IntVar(&cfg.Artifacts, "artifacts", benchdata.DefaultArtifacts, "artifacts to generate (4 attestations each)")
	fs.Uint64Var(&cfg.Seed, "seed", benchdata.DefaultSeed, "seed of every random choice")
	fs.IntVar(&cfg.DecidedPercent, "decided", benchdata.DefaultDecidedPercent, "percent of artifacts with a promotion request and a gate decision")
	batch := fs.Int("batch", benchdata.DefaultBatch, "artifacts written per transaction")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the generation to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *db == "" || fs.NArg() > 0 {
		_, _ = fmt.Fprintln(stderr, "genledger: give -db FILE or -db postgres://… and no arguments")
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			_, _ = fmt.Fprintln(stderr, "genledger:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			_, _ = fmt.Fprintln(stderr, "genledger:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := generate(ctx, *db, *manifest, *force, cfg, *batch, stdout, stderr); err != nil {
		_, _ = fmt.Fprintln(stderr, "genledger:", err)
		return 1
	}
	return 0
}

func generate(ctx context.Context, db, manifest string, force bool, cfg benchdata.Config, batch int, stdout, stderr io.Writer) error {
	postgres := strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
	switch {
	case postgres && manifest == "":
		return errors.New("with a PostgreSQL database, say where the manifest goes (-manifest FILE)")
	case manifest == "":
		manifest = benchdata.ManifestPath(db)
	}
	if !postgres {
		if err := prepareFile(db, manifest, force); err != nil {
			return err
		}
	}
	var store ledger.Store
	var err error
	if postgres {
		store, err = ledgersvc.OpenStore(ctx, db)
	} else {
		// A page cache large enough for the pages a batch changes (see
		// sqlite.WithCacheSize): about 3x faster than SQLite's default here.
		store, err = sqlite.Open(ctx, db, sqlite.WithCacheSize(64))
	}
	if err != nil {
		return err
	}
	defer store.Close()
	if n, err := store.LogSize(ctx); err != nil || n > 0 {
		return errors.Join(err, fmt.Errorf("%s already holds a log of %d entries: generate into an empty database", ledgersvc.RedactStoreRef(db), n))
	}
	_, _ = fmt.Fprintf(stderr, "genledger: generating %d artifacts (seed %d) into %s, %d per transaction\n",
		cfg.WithDefaults().Artifacts, cfg.WithDefaults().Seed, ledgersvc.RedactStoreRef(db), batch)
	m, err := benchdata.Generate(ctx, store, cfg, batch, stderr)
	if err != nil {
		return err
	}
	if err := store.Close(); err != nil {
		return err
	}
	if err := m.Write(manifest); err != nil {
		return fmt.Errorf("write the manifest: %w", err)
	}
	c := m.Counts
	_, _ = fmt.Fprintf(stdout, "generated in %s: %d artifacts, %d attestations, %d log entries, %d events, %d packages, %d decisions, %d promoted, %d vulnerability records (%d rows)\n",
		time.Duration(m.Generated), c.Artifacts, c.Attestations, c.LogEntries, c.Events, c.Packages, c.Decisions, c.Promoted, c.VulnRecords, c.Rows)
	for _, q := range m.Queries {
		_, _ = fmt.Fprintf(stdout, "query %-5s must list %d artifacts (%.2f%%), %d of them promoted\n",
			q.Name, q.Artifacts, 100*float64(q.Artifacts)/float64(c.Artifacts), q.Promoted)
	}
	if !postgres {
		size, err := fileSize(db)
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(stdout, "database %s: %.2f GB on disk; manifest %s\n", db, float64(size)/1e9, manifest)
	}
	return nil
}

// prepareFile refuses to overwrite a database unless forced, and makes its directory.
func prepareFile(db, manifest string, force bool) error {
	files := []string{db, db + "-wal", db + "-shm", manifest}
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			if !force {
				return fmt.Errorf("%s exists: generate into a new file, or give -force to remove it", f)
			}
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return os.MkdirAll(filepath.Dir(db), 0o755)
}

// fileSize is the size on disk of a SQLite database: the file and its WAL.
func fileSize(db string) (int64, error) {
	var total int64
	for _, f := range []string{db, db + "-wal"} {
		st, err := os.Stat(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += st.Size()
	}
	return total, nil
}

// Command ledger records every Custody event and verified attestation and serves the
// provenance and promotion-status API.
//
// Configuration comes from flags, which default to the environment: CUSTODY_DB
// (./custody.db: a SQLite file path, or a postgres:// or postgresql:// URL for
// PostgreSQL), CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files; required),
// CUSTODY_HTTP_ADDR (127.0.0.1:8081), CUSTODY_NATS_URL (nats://127.0.0.1:4222),
// CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX and CUSTODY_BLOB_BUCKET (CUSTODY_BLOBS).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/services/ledger"
)

type config struct {
	daemon.Common
	dbRef    string
	httpAddr string
}

func (c config) Validate() error {
	var errs []error
	if c.dbRef == "" {
		errs = append(errs, errors.New("database is empty; set CUSTODY_DB or -db to a SQLite file or a postgres:// URL"))
	}
	if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("http address %q: %w", c.httpAddr, err))
	}
	return errors.Join(append(errs, c.Common.Validate())...)
}

func main() {
	cfg := config{Common: daemon.Common{Name: "ledger", Uses: daemon.UsesBlobs | daemon.UsesTrustedKeys}}
	cfg.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.dbRef, "db", daemon.EnvOr("CUSTODY_DB", "./custody.db"), "ledger database: a SQLite `file`, or a postgres:// URL")
	flag.StringVar(&cfg.httpAddr, "http", daemon.EnvOr("CUSTODY_HTTP_ADDR", "127.0.0.1:8081"), "address to serve HTTP on")
	flag.Parse()
	daemon.Main(cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	keys, err := daemon.LoadTrustedKeys(cfg.TrustedKeys)
	if err != nil {
		return err
	}
	verifier, err := verify.NewVerifier(keys)
	if err != nil {
		return err
	}
	store, err := ledger.OpenStore(ctx, cfg.dbRef)
	if err != nil {
		return err
	}
	defer store.Close()
	conn, err := cfg.Connect(ctx, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	svc, err := ledger.New(conn.Bus, conn.Blobs, store, verifier, ledger.WithLogger(log))
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	srv := daemon.HTTPServer(cfg.httpAddr, http.MaxBytesHandler(svc.Handler(), 64<<10), log)
	errc := make(chan error, 1)
	go func() {
		log.Info("serving", "addr", cfg.httpAddr, "db", ledger.RedactStoreRef(cfg.dbRef), "trusted_keys", verifier.KeyIDs())
		errc <- srv.ListenAndServe()
	}()
	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serve %s: %w", cfg.httpAddr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return errors.Join(serveErr, srv.Shutdown(sctx), svc.Shutdown(sctx), conn.Close())
}

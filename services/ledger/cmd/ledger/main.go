// Command ledger records every Custody event and verified attestation and serves the
// provenance and promotion-status API.
//
// Configuration comes from flags, which default to the environment: CUSTODY_DB
// (./custody.db), CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files; required),
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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/services/ledger"
)

type config struct {
	dbPath      string
	trustedKeys string
	httpAddr    string
	natsURL     string
	stream      string
	prefix      string
	bucket      string
}

func (c config) keyFiles() []string {
	var files []string
	for _, f := range strings.Split(c.trustedKeys, ",") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	return files
}

func (c config) Validate() error {
	var errs []error
	if c.dbPath == "" {
		errs = append(errs, errors.New("database path is empty; set CUSTODY_DB or -db"))
	}
	if len(c.keyFiles()) == 0 {
		errs = append(errs, errors.New("no trusted keys: set CUSTODY_TRUSTED_KEYS or -trusted-keys to comma-separated PEM public key files"))
	}
	if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("http address %q: %w", c.httpAddr, err))
	}
	if c.natsURL == "" {
		errs = append(errs, errors.New("NATS URL is empty"))
	}
	if c.bucket == "" {
		errs = append(errs, errors.New("blob bucket is empty"))
	}
	if err := (events.Config{Stream: c.stream, Prefix: c.prefix}).Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	var cfg config
	flag.StringVar(&cfg.dbPath, "db", envOr("CUSTODY_DB", "./custody.db"), "SQLite database `file`")
	flag.StringVar(&cfg.trustedKeys, "trusted-keys", os.Getenv("CUSTODY_TRUSTED_KEYS"), "comma-separated PEM public key `files` whose signatures count")
	flag.StringVar(&cfg.httpAddr, "http", envOr("CUSTODY_HTTP_ADDR", "127.0.0.1:8081"), "address to serve HTTP on")
	flag.StringVar(&cfg.natsURL, "nats", envOr("CUSTODY_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL")
	flag.StringVar(&cfg.stream, "stream", envOr("CUSTODY_STREAM", "CUSTODY"), "JetStream stream name")
	flag.StringVar(&cfg.prefix, "subject-prefix", envOr("CUSTODY_SUBJECT_PREFIX", "custody"), "event subject prefix")
	flag.StringVar(&cfg.bucket, "blob-bucket", envOr("CUSTODY_BLOB_BUCKET", "CUSTODY_BLOBS"), "blob store bucket")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "ledger")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cfg.Validate(); err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error("ledger stopped", "error", err)
		os.Exit(1)
	}
}

func loadVerifier(files []string) (*verify.Verifier, error) {
	var keys []verify.TrustedKey
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted key: %w", err)
		}
		k, err := verify.ParseTrustedKeyPEM(filepath.Base(f), data)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return verify.NewVerifier(keys)
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	verifier, err := loadVerifier(cfg.keyFiles())
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, cfg.dbPath)
	if err != nil {
		return err
	}
	defer store.Close()
	nc, err := nats.Connect(cfg.natsURL, nats.Name("custody-ledger"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	bus, err := events.New(js, events.Config{Stream: cfg.stream, Prefix: cfg.prefix},
		events.WithSource("custody/ledger"), events.WithLogger(log))
	if err != nil {
		return err
	}
	if err := bus.EnsureStream(ctx); err != nil {
		return err
	}
	blobs, err := blob.Open(ctx, js, cfg.bucket)
	if err != nil {
		return err
	}
	svc, err := ledger.New(bus, blobs, store, verifier, ledger.WithLogger(log))
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.httpAddr,
		Handler:           http.MaxBytesHandler(svc.Handler(), 64<<10),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		log.Info("serving", "addr", cfg.httpAddr, "db", cfg.dbPath, "trusted_keys", verifier.KeyIDs())
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
	return errors.Join(serveErr, srv.Shutdown(sctx), svc.Shutdown(sctx), nc.Drain())
}

// Command ingest serves Custody's build-event and promotion-request endpoints.
//
// Configuration comes from flags, which default to the environment: CUSTODY_HTTP_ADDR
// (127.0.0.1:8080), CUSTODY_NATS_URL (nats://127.0.0.1:4222), CUSTODY_STREAM and
// CUSTODY_SUBJECT_PREFIX.
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
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/services/ingest"
)

type config struct {
	httpAddr string
	natsURL  string
	stream   string
	prefix   string
}

func (c config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("http address %q: %w", c.httpAddr, err))
	}
	if c.natsURL == "" {
		errs = append(errs, errors.New("NATS URL is empty"))
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
	flag.StringVar(&cfg.httpAddr, "http", envOr("CUSTODY_HTTP_ADDR", "127.0.0.1:8080"), "address to serve HTTP on")
	flag.StringVar(&cfg.natsURL, "nats", envOr("CUSTODY_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL")
	flag.StringVar(&cfg.stream, "stream", envOr("CUSTODY_STREAM", "CUSTODY"), "JetStream stream name")
	flag.StringVar(&cfg.prefix, "subject-prefix", envOr("CUSTODY_SUBJECT_PREFIX", "custody"), "event subject prefix")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "ingest")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cfg.Validate(); err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error("ingest stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	nc, err := nats.Connect(cfg.natsURL, nats.Name("custody-ingest"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	bus, err := events.New(js, events.Config{Stream: cfg.stream, Prefix: cfg.prefix},
		events.WithSource("custody/ingest"), events.WithLogger(log))
	if err != nil {
		return err
	}
	if err := bus.EnsureStream(ctx); err != nil {
		return err
	}
	svc, err := ingest.New(bus, ingest.WithLogger(log))
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.httpAddr,
		Handler:           svc.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		log.Info("serving", "addr", cfg.httpAddr)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", cfg.httpAddr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	return errors.Join(err, svc.Shutdown(sctx), nc.Drain())
}

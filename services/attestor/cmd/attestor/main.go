// Command attestor signs provenance and SBOM statements for images as build and scan
// events arrive, stores the envelopes, and attaches them to the images.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_SIGNING_KEY (path of a cosign-format key file). The key's
// password is read from CUSTODY_KEY_PASSWORD only, removed from the environment once
// read, and never logged. Registry credentials come from the Docker config
// (~/.docker/config.json) and credential helpers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/services/attestor"
)

type config struct {
	insecureRegistries string
	natsURL     string
	stream      string
	prefix      string
	blobBucket  string
	keyPath     string
	replicas    int
	concurrency int
}

func (c config) Validate() error {
	var errs []error
	if c.natsURL == "" {
		errs = append(errs, errors.New("NATS URL is empty"))
	}
	if err := (events.Config{Stream: c.stream, Prefix: c.prefix}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.blobBucket == "" {
		errs = append(errs, errors.New("blob bucket is empty"))
	}
	if c.keyPath == "" {
		errs = append(errs, errors.New("no signing key: set CUSTODY_SIGNING_KEY or -key to a cosign key file"))
	}
	if c.replicas < 1 || c.replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d must be 1-5", c.replicas))
	}
	if c.concurrency < 1 || c.concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency %d must be 1-64", c.concurrency))
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
	flag.StringVar(&cfg.natsURL, "nats", envOr("CUSTODY_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL")
	flag.StringVar(&cfg.stream, "stream", envOr("CUSTODY_STREAM", "CUSTODY"), "JetStream stream name")
	flag.StringVar(&cfg.prefix, "subject-prefix", envOr("CUSTODY_SUBJECT_PREFIX", "custody"), "event subject prefix")
	flag.StringVar(&cfg.blobBucket, "blob-bucket", envOr("CUSTODY_BLOB_BUCKET", "CUSTODY_BLOBS"), "blob store bucket")
	flag.StringVar(&cfg.keyPath, "key", os.Getenv("CUSTODY_SIGNING_KEY"), "cosign-format signing key file (password in CUSTODY_KEY_PASSWORD)")
	flag.IntVar(&cfg.replicas, "replicas", 1, "replicas of the state bucket (3 in a cluster)")
	flag.IntVar(&cfg.concurrency, "concurrency", 2, "events handled at once per consumer")
	flag.StringVar(&cfg.insecureRegistries, "insecure-registries", os.Getenv("CUSTODY_INSECURE_REGISTRIES"), "comma-separated registry hosts to reach over plain HTTP")
	flag.Parse()

	password := []byte(os.Getenv("CUSTODY_KEY_PASSWORD"))
	_ = os.Unsetenv("CUSTODY_KEY_PASSWORD")

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "attestor")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cfg.Validate(); err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, password, log); err != nil {
		log.Error("attestor stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, password []byte, log *slog.Logger) error {
	insecure, err := oci.ParseHostList(cfg.insecureRegistries)
	if err != nil {
		return err
	}
	signer, err := signing.LoadSignerFile(cfg.keyPath, password)
	clear(password)
	if err != nil {
		return fmt.Errorf("load signing key %s: %w", cfg.keyPath, err)
	}
	nc, err := nats.Connect(cfg.natsURL, nats.Name("custody-attestor"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	bus, err := events.New(js, events.Config{Stream: cfg.stream, Prefix: cfg.prefix, Replicas: cfg.replicas},
		events.WithSource("custody/attestor"), events.WithLogger(log))
	if err != nil {
		return err
	}
	if err := bus.EnsureStream(ctx); err != nil {
		return err
	}
	blobs, err := blob.Open(ctx, js, cfg.blobBucket, blob.WithReplicas(cfg.replicas))
	if err != nil {
		return err
	}
	svc, err := attestor.New(bus, blobs, signer,
		attestor.WithLogger(log),
		attestor.WithStateReplicas(cfg.replicas),
		attestor.WithConcurrency(cfg.concurrency),
		attestor.WithRemoteOptions(remote.WithTransport(oci.InsecureTransport(insecure, nil)), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("custody-attestor")),
	)
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(svc.Shutdown(sctx), nc.Drain())
}

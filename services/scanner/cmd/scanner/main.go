// Command scanner pulls images named by build events, catalogues their software into
// CycloneDX SBOMs, stores them in the blob store and publishes scan events.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM (CUSTODY), CUSTODY_SUBJECT_PREFIX (custody),
// CUSTODY_BLOB_BUCKET (CUSTODY_BLOBS), CUSTODY_SCAN_TMPDIR (where layers are cached while
// they are read; default the system temporary directory). Registry credentials come from
// the Docker config (~/.docker/config.json) and credential helpers.
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
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/services/scanner"
)

type config struct {
	natsURL      string
	stream       string
	prefix       string
	blobBucket   string
	tmpDir       string
	replicas     int
	concurrency  int
	timeout      time.Duration
	maxImageSize int64
	insecure     string
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
	if c.replicas < 1 || c.replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d must be 1-5", c.replicas))
	}
	if c.concurrency < 1 || c.concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency %d must be 1-64", c.concurrency))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("scan timeout %s must be positive", c.timeout))
	}
	if c.maxImageSize <= 0 {
		errs = append(errs, fmt.Errorf("max image size %d must be positive", c.maxImageSize))
	}
	if c.tmpDir != "" {
		if fi, err := os.Stat(c.tmpDir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("scan temp dir %q is not a directory", c.tmpDir))
		}
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
	flag.StringVar(&cfg.tmpDir, "tmpdir", os.Getenv("CUSTODY_SCAN_TMPDIR"), "directory for layers being read (default: system temp dir)")
	flag.IntVar(&cfg.replicas, "replicas", 1, "replicas of the stream and blob bucket (3 in a cluster)")
	flag.IntVar(&cfg.concurrency, "concurrency", 2, "images scanned at once")
	flag.DurationVar(&cfg.timeout, "scan-timeout", 15*time.Minute, "bound on one pull and scan")
	flag.Int64Var(&cfg.maxImageSize, "max-image-size", 16<<30, "largest uncompressed image scanned, in bytes")
	flag.StringVar(&cfg.insecure, "insecure-registries", os.Getenv("CUSTODY_INSECURE_REGISTRIES"), "comma-separated registry hosts to reach over plain HTTP (loopback always is)")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "scanner")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cfg.Validate(); err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error("scanner stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	nc, err := nats.Connect(cfg.natsURL, nats.Name("custody-scanner"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	bus, err := events.New(js, events.Config{Stream: cfg.stream, Prefix: cfg.prefix, Replicas: cfg.replicas},
		events.WithSource("custody/scanner"), events.WithLogger(log))
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
	scanOpts := []sbom.Option{sbom.WithMaxImageSize(cfg.maxImageSize)}
	if cfg.tmpDir != "" {
		scanOpts = append(scanOpts, sbom.WithTempDir(cfg.tmpDir))
	}
	insecure, err := oci.ParseHostList(cfg.insecure)
	if err != nil {
		return err
	}
	opts := []scanner.Option{
		scanner.WithLogger(log),
		scanner.WithConcurrency(cfg.concurrency),
		scanner.WithScanTimeout(cfg.timeout),
		scanner.WithScanOptions(scanOpts...),
		scanner.WithRemoteOptions(remote.WithTransport(oci.InsecureTransport(insecure, nil)),
			remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("custody-scanner")),
	}
	svc, err := scanner.New(bus, blobs, opts...)
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

// Command scanner pulls images named by build events, catalogues their software into
// CycloneDX SBOMs, stores them in the blob store and publishes scan events.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM (CUSTODY), CUSTODY_SUBJECT_PREFIX (custody),
// CUSTODY_BLOB_BUCKET (CUSTODY_BLOBS), CUSTODY_INSECURE_REGISTRIES (comma-separated
// registry hosts to reach over plain HTTP), CUSTODY_SCAN_TMPDIR (where layers are cached
// while they are read; default the system temporary directory). Registry credentials come
// from the Docker config (~/.docker/config.json) and credential helpers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/services/scanner"
)

type config struct {
	daemon.Common
	tmpDir       string
	concurrency  int
	timeout      time.Duration
	maxImageSize int64
}

func (c config) Validate() error {
	errs := []error{c.Common.Validate()}
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

func main() {
	cfg := config{Common: daemon.Common{Name: "scanner", Uses: daemon.UsesBlobs | daemon.UsesRegistries | daemon.UsesReplicas}}
	cfg.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.tmpDir, "tmpdir", os.Getenv("CUSTODY_SCAN_TMPDIR"), "directory for layers being read (default: system temp dir)")
	flag.IntVar(&cfg.concurrency, "concurrency", 2, "images scanned at once")
	flag.DurationVar(&cfg.timeout, "scan-timeout", 15*time.Minute, "bound on one pull and scan")
	flag.Int64Var(&cfg.maxImageSize, "max-image-size", 16<<30, "largest uncompressed image scanned, in bytes")
	flag.Parse()
	daemon.Main(cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	conn, err := cfg.Connect(ctx, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	scanOpts := []sbom.Option{sbom.WithMaxImageSize(cfg.maxImageSize)}
	if cfg.tmpDir != "" {
		scanOpts = append(scanOpts, sbom.WithTempDir(cfg.tmpDir))
	}
	remoteOpts, err := cfg.RemoteOptions("custody-scanner")
	if err != nil {
		return err
	}
	svc, err := scanner.New(conn.Bus, conn.Blobs,
		scanner.WithLogger(log),
		scanner.WithConcurrency(cfg.concurrency),
		scanner.WithScanTimeout(cfg.timeout),
		scanner.WithScanOptions(scanOpts...),
		scanner.WithRemoteOptions(remoteOpts...),
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
	return errors.Join(svc.Shutdown(sctx), conn.Close())
}

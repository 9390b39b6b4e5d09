// Command attestor signs provenance and SBOM statements for images as build and scan
// events arrive, stores the envelopes, and attaches them to the images.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_INSECURE_REGISTRIES (comma-separated registry hosts to reach
// over plain HTTP), CUSTODY_SIGNING_KEY (a key reference: the path of a cosign-format key
// file, or a KMS URI: awskms://, gcpkms://, azurekms://, hashivault://; KMS credentials
// come from each provider's usual environment). A key file's password is read from
// CUSTODY_KEY_PASSWORD only, removed from the environment once read, and never logged. Registry credentials come from the Docker config
// (~/.docker/config.json) and credential helpers.
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
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/services/attestor"
)

type config struct {
	daemon.Common
	keyPath     string
	concurrency int
}

func (c config) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.keyPath == "" {
		errs = append(errs, errors.New("no signing key: set CUSTODY_SIGNING_KEY or -key to a cosign key file or a KMS URI"))
	}
	if c.concurrency < 1 || c.concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency %d must be 1-64", c.concurrency))
	}
	return errors.Join(errs...)
}

func main() {
	cfg := config{Common: daemon.Common{Name: "attestor", Uses: daemon.UsesBlobs | daemon.UsesRegistries | daemon.UsesReplicas}}
	cfg.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.keyPath, "key", os.Getenv("CUSTODY_SIGNING_KEY"), "signing key `ref`: a cosign-format key file (password in CUSTODY_KEY_PASSWORD) or a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://)")
	flag.IntVar(&cfg.concurrency, "concurrency", 2, "events handled at once per consumer")
	flag.Parse()

	password := []byte(os.Getenv("CUSTODY_KEY_PASSWORD"))
	_ = os.Unsetenv("CUSTODY_KEY_PASSWORD")
	daemon.Main(cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, password, log) })
}

func run(ctx context.Context, cfg config, password []byte, log *slog.Logger) error {
	remoteOpts, err := cfg.RemoteOptions("custody-attestor")
	if err != nil {
		return err
	}
	signer, err := signing.LoadSigner(ctx, cfg.keyPath, func() ([]byte, error) { return password, nil })
	clear(password)
	if err != nil {
		return fmt.Errorf("load signing key %s: %w", cfg.keyPath, err)
	}
	conn, err := cfg.Connect(ctx, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	svc, err := attestor.New(conn.Bus, conn.Blobs, signer,
		attestor.WithLogger(log),
		attestor.WithStateReplicas(cfg.Replicas),
		attestor.WithConcurrency(cfg.concurrency),
		attestor.WithRemoteOptions(remoteOpts...),
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

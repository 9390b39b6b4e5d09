// Command promoter copies images whose promotion the gate allowed.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files) and,
// optionally, CUSTODY_POLICY_DIR: when set, each decision's policy is re-evaluated over
// the re-verified evidence before copying. Registry credentials come from the Docker
// configuration ($DOCKER_CONFIG/config.json and credential helpers).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/services/promoter"
)

type config struct {
	insecureRegistries string
	natsURL     string
	stream      string
	prefix      string
	bucket      string
	trustedKeys string
	policyDir   string
}

func (c config) keyFiles() []string {
	var out []string
	for _, f := range strings.Split(c.trustedKeys, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c config) Validate() error {
	var errs []error
	if c.natsURL == "" {
		errs = append(errs, errors.New("NATS URL is empty"))
	}
	if err := (events.Config{Stream: c.stream, Prefix: c.prefix}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.bucket == "" {
		errs = append(errs, errors.New("blob bucket is empty"))
	}
	if len(c.keyFiles()) == 0 {
		errs = append(errs, errors.New("no trusted keys: set CUSTODY_TRUSTED_KEYS or -trusted-keys to PEM public key files"))
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
	flag.StringVar(&cfg.bucket, "blob-bucket", envOr("CUSTODY_BLOB_BUCKET", "CUSTODY_BLOBS"), "blob store bucket")
	flag.StringVar(&cfg.trustedKeys, "trusted-keys", os.Getenv("CUSTODY_TRUSTED_KEYS"), "comma-separated PEM public key files")
	flag.StringVar(&cfg.policyDir, "policies", os.Getenv("CUSTODY_POLICY_DIR"), "optional: directory of policies to re-check decisions against")
	flag.StringVar(&cfg.insecureRegistries, "insecure-registries", os.Getenv("CUSTODY_INSECURE_REGISTRIES"), "comma-separated registry hosts to reach over plain HTTP")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "promoter")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cfg.Validate(); err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error("promoter stopped", "error", err)
		os.Exit(1)
	}
}

func loadKeys(files []string) ([]verify.TrustedKey, error) {
	var keys []verify.TrustedKey
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted key: %w", err)
		}
		k, err := verify.ParseTrustedKeyPEM(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	insecure, err := oci.ParseHostList(cfg.insecureRegistries)
	if err != nil {
		return err
	}
	keys, err := loadKeys(cfg.keyFiles())
	if err != nil {
		return err
	}
	verifier, err := verify.NewVerifier(keys)
	if err != nil {
		return err
	}
	opts := []promoter.Option{
		promoter.WithLogger(log),
		promoter.WithRemoteOptions(remote.WithTransport(oci.InsecureTransport(insecure, nil)), remote.WithAuthFromKeychain(authn.DefaultKeychain)),
	}
	if cfg.policyDir != "" {
		set, err := policy.LoadDir(cfg.policyDir)
		if err != nil {
			return err
		}
		opts = append(opts, promoter.WithPolicies(set))
	}
	nc, err := nats.Connect(cfg.natsURL, nats.Name("custody-promoter"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	bus, err := events.New(js, events.Config{Stream: cfg.stream, Prefix: cfg.prefix},
		events.WithSource("custody/promoter"), events.WithLogger(log))
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
	svc, err := promoter.New(bus, blobs, verifier, opts...)
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	log.Info("promoter running", "trusted_keys", len(keys), "policy_recheck", cfg.policyDir != "")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return errors.Join(svc.Shutdown(sctx), nc.Drain())
}

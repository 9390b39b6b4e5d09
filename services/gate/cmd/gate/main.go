// Command gate decides promotion requests against Custody's policies.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_POLICY_DIR (a directory of *.yaml policies),
// CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files), CUSTODY_LEDGER_URL (the
// ledger's HTTP API, asked for evidence), CUSTODY_LEDGER_TOKEN and CUSTODY_EVIDENCE_WAIT
// (30s).
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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/services/gate"
)

type config struct {
	natsURL      string
	stream       string
	prefix       string
	bucket       string
	policyDir    string
	trustedKeys  string
	ledgerURL    string
	ledgerToken  string
	evidenceWait time.Duration
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
	if c.policyDir == "" {
		errs = append(errs, errors.New("policy directory is empty: set CUSTODY_POLICY_DIR or -policies"))
	}
	if len(c.keyFiles()) == 0 {
		errs = append(errs, errors.New("no trusted keys: set CUSTODY_TRUSTED_KEYS or -trusted-keys to PEM public key files"))
	}
	if c.ledgerURL == "" {
		errs = append(errs, errors.New("ledger URL is empty: set CUSTODY_LEDGER_URL or -ledger"))
	}
	if c.evidenceWait < 0 {
		errs = append(errs, fmt.Errorf("evidence wait %s is negative", c.evidenceWait))
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
	flag.StringVar(&cfg.policyDir, "policies", os.Getenv("CUSTODY_POLICY_DIR"), "directory of promotion policies (*.yaml)")
	flag.StringVar(&cfg.trustedKeys, "trusted-keys", os.Getenv("CUSTODY_TRUSTED_KEYS"), "comma-separated PEM public key files")
	flag.StringVar(&cfg.ledgerURL, "ledger", os.Getenv("CUSTODY_LEDGER_URL"), "ledger HTTP API base URL")
	flag.StringVar(&cfg.ledgerToken, "ledger-token", os.Getenv("CUSTODY_LEDGER_TOKEN"), "bearer token for the ledger API")
	wait, err := time.ParseDuration(envOr("CUSTODY_EVIDENCE_WAIT", gate.DefaultEvidenceWait.String()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "CUSTODY_EVIDENCE_WAIT: %v\n", err)
		os.Exit(2)
	}
	flag.DurationVar(&cfg.evidenceWait, "evidence-wait", wait, "how long a request waits for missing evidence")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "gate")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cfg.Validate(); err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error("gate stopped", "error", err)
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
	policies, err := policy.LoadDir(cfg.policyDir)
	if err != nil {
		return err
	}
	if len(policies.Policies()) == 0 {
		log.Warn("no policies loaded: every promotion will be denied", "dir", cfg.policyDir)
	}
	keys, err := loadKeys(cfg.keyFiles())
	if err != nil {
		return err
	}
	verifier, err := verify.NewVerifier(keys)
	if err != nil {
		return err
	}
	evidence, err := gate.NewLedgerEvidence(cfg.ledgerURL, gate.WithBearerToken(cfg.ledgerToken))
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.natsURL, nats.Name("custody-gate"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	bus, err := events.New(js, events.Config{Stream: cfg.stream, Prefix: cfg.prefix},
		events.WithSource("custody/gate"), events.WithLogger(log))
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
	svc, err := gate.New(bus, blobs, evidence, verifier, policies,
		gate.WithLogger(log), gate.WithEvidenceWait(cfg.evidenceWait))
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	log.Info("gate running", "policies", len(policies.Policies()), "trusted_keys", len(keys))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.evidenceWait+15*time.Second)
	defer cancel()
	return errors.Join(svc.Shutdown(sctx), nc.Drain())
}

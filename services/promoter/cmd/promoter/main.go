// Command promoter copies images whose promotion the gate allowed.
//
// Configuration comes from flags, which default to the environment: CUSTODY_NATS_URL
// (nats://127.0.0.1:4222), CUSTODY_STREAM, CUSTODY_SUBJECT_PREFIX, CUSTODY_BLOB_BUCKET
// (CUSTODY_BLOBS), CUSTODY_TRUSTED_KEYS (comma-separated PEM public key files),
// CUSTODY_INSECURE_REGISTRIES (comma-separated registry hosts to reach over plain HTTP)
// and, optionally, CUSTODY_POLICY_DIR: when set, each decision's policy is re-evaluated
// over the re-verified evidence before copying. Registry credentials come from the Docker
// configuration ($DOCKER_CONFIG/config.json and credential helpers).
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/services/promoter"
)

type config struct {
	daemon.Common
	policyDir string
}

func main() {
	cfg := config{Common: daemon.Common{Name: "promoter", Uses: daemon.UsesBlobs | daemon.UsesTrustedKeys | daemon.UsesRegistries}}
	cfg.RegisterFlags(flag.CommandLine)
	flag.StringVar(&cfg.policyDir, "policies", os.Getenv("CUSTODY_POLICY_DIR"), "optional: directory of policies to re-check decisions against")
	flag.Parse()
	daemon.Main(cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	// No user agent: the promoter has always left go-containerregistry's own.
	remoteOpts, err := cfg.RemoteOptions("")
	if err != nil {
		return err
	}
	keys, err := daemon.LoadTrustedKeys(cfg.TrustedKeys)
	if err != nil {
		return err
	}
	verifier, err := verify.NewVerifier(keys)
	if err != nil {
		return err
	}
	opts := []promoter.Option{promoter.WithLogger(log), promoter.WithRemoteOptions(remoteOpts...)}
	if cfg.policyDir != "" {
		set, err := policy.LoadDir(cfg.policyDir)
		if err != nil {
			return err
		}
		opts = append(opts, promoter.WithPolicies(set))
	}
	conn, err := cfg.Connect(ctx, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	svc, err := promoter.New(conn.Bus, conn.Blobs, verifier, opts...)
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
	return errors.Join(svc.Shutdown(sctx), conn.Close())
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	policyDir    string
	decisionKeys string
}

func (c config) Validate() error {
	var errs []error
	if c.decisionKeys == "" {
		errs = append(errs, errors.New("no decision keys: set CUSTODY_DECISION_KEYS or -decision-keys to the gate's public key file(s); only decisions signed by them are carried out"))
	}
	return errors.Join(append(errs, c.Common.Validate())...)
}

// Main runs the promoter with the command-line arguments args (without the program name)
// until ctx is cancelled, then drains it and returns the exit code: 0 after a clean stop or
// -h, daemon.ExitUsage for arguments that do not parse, daemon.ExitConfigError for a
// configuration that is not valid, daemon.ExitRunError when the promoter fails. Usage,
// flag errors and the JSON log go to stderr; nothing is written to stdout. Main never
// exits the process.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := config{Common: daemon.Common{Name: "promoter", Uses: daemon.UsesBlobs | daemon.UsesTrustedKeys | daemon.UsesRegistries}}
	fs := daemon.NewFlagSet(cfg.Name, stderr)
	cfg.RegisterFlags(fs)
	fs.StringVar(&cfg.policyDir, "policies", os.Getenv("CUSTODY_POLICY_DIR"), "optional: directory of policies to re-check decisions against")
	fs.StringVar(&cfg.decisionKeys, "decision-keys", os.Getenv("CUSTODY_DECISION_KEYS"), "comma-separated `files` of the gate's public keys (PEM, or trust files): only decisions whose VSA they signed are carried out")
	if code, ok := daemon.ParseFlags(fs, args); !ok {
		return code
	}
	return daemon.Run(ctx, stderr, cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	// No user agent: the promoter has always left go-containerregistry's own.
	registry, err := cfg.Registry("")
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
	gateKeys, err := daemon.LoadTrustedKeys(cfg.decisionKeys)
	if err != nil {
		return fmt.Errorf("decision keys: %w", err)
	}
	decisions, err := verify.NewVerifier(gateKeys)
	if err != nil {
		return fmt.Errorf("decision keys: %w", err)
	}
	opts := []promoter.Option{promoter.WithLogger(log), promoter.WithRegistry(registry)}
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
	svc, err := promoter.New(conn.Bus, conn.Blobs, verifier, decisions, opts...)
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

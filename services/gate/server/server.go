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
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/services/gate"
)

type config struct {
	daemon.Common
	policyDir    string
	ledgerURL    string
	ledgerToken  daemon.Token
	evidenceWait time.Duration
	keyPath      string
	envErr       error // an environment variable that did not parse
}

func (c config) Validate() error {
	errs := []error{c.envErr, c.Common.Validate()}
	if c.policyDir == "" {
		errs = append(errs, errors.New("policy directory is empty: set CUSTODY_POLICY_DIR or -policies"))
	}
	if c.keyPath == "" {
		errs = append(errs, errors.New("no decision signing key: set CUSTODY_GATE_SIGNING_KEY or -key to a cosign key file or a KMS URI; the promoter trusts its public key (CUSTODY_DECISION_KEYS)"))
	}
	if c.ledgerURL == "" {
		errs = append(errs, errors.New("ledger URL is empty: set CUSTODY_LEDGER_URL or -ledger"))
	}
	if c.evidenceWait < 0 {
		errs = append(errs, fmt.Errorf("evidence wait %s is negative", c.evidenceWait))
	}
	return errors.Join(errs...)
}

// Main runs the gate with the command-line arguments args (without the program name)
// until ctx is cancelled, then drains it and returns the exit code: 0 after a clean stop or
// -h, daemon.ExitUsage for arguments that do not parse, daemon.ExitConfigError for a
// configuration that is not valid, daemon.ExitRunError when the gate fails. Usage, flag
// errors and the JSON log go to stderr; nothing is written to stdout. Main never exits
// the process.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := config{Common: daemon.Common{Name: "gate", Uses: daemon.UsesBlobs | daemon.UsesTrustedKeys | daemon.UsesRegistries}}
	fs := daemon.NewFlagSet(cfg.Name, stderr)
	cfg.RegisterFlags(fs)
	fs.StringVar(&cfg.policyDir, "policies", os.Getenv("CUSTODY_POLICY_DIR"), "directory of promotion policies (*.yaml)")
	fs.StringVar(&cfg.ledgerURL, "ledger", os.Getenv("CUSTODY_LEDGER_URL"), "ledger HTTP API base URL")
	cfg.ledgerToken.RegisterFlags(fs, "ledger-token", "CUSTODY_LEDGER_TOKEN", "the API token (auditor role) for the ledger")
	fs.StringVar(&cfg.keyPath, "key", os.Getenv("CUSTODY_GATE_SIGNING_KEY"), "decision signing key `ref` for the VSAs: a cosign-format key file (password in CUSTODY_KEY_PASSWORD) or a KMS URI")
	var wait time.Duration
	wait, cfg.envErr = daemon.EnvDuration("CUSTODY_EVIDENCE_WAIT", gate.DefaultEvidenceWait)
	fs.DurationVar(&cfg.evidenceWait, "evidence-wait", wait, "how long a request waits for missing evidence")
	if code, ok := daemon.ParseFlags(fs, args); !ok {
		return code
	}
	password := []byte(os.Getenv("CUSTODY_KEY_PASSWORD"))
	_ = os.Unsetenv("CUSTODY_KEY_PASSWORD")
	defer clear(password)
	return daemon.Run(ctx, stderr, cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, password, log) })
}

func run(ctx context.Context, cfg config, password []byte, log *slog.Logger) error {
	signer, err := signing.LoadSigner(ctx, cfg.keyPath, func() ([]byte, error) { return password, nil })
	clear(password)
	if err != nil {
		return fmt.Errorf("load decision signing key %s: %w", cfg.keyPath, err)
	}
	registry, err := cfg.Registry("custody-gate")
	if err != nil {
		return err
	}
	policies, err := policy.LoadDir(cfg.policyDir)
	if err != nil {
		return err
	}
	if len(policies.Policies()) == 0 {
		log.Warn("no policies loaded: every promotion will be denied", "dir", cfg.policyDir)
	}
	keys, err := daemon.LoadTrustedKeys(cfg.TrustedKeys)
	if err != nil {
		return err
	}
	verifier, err := verify.NewVerifier(keys)
	if err != nil {
		return err
	}
	token, err := cfg.ledgerToken.Get()
	if err != nil {
		return err
	}
	evidence, err := gate.NewLedgerEvidence(cfg.ledgerURL, gate.WithBearerToken(token))
	if err != nil {
		return err
	}
	conn, err := cfg.Connect(ctx, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	svc, err := gate.New(conn.Bus, conn.Blobs, evidence, verifier, policies, signer,
		gate.WithLogger(log), gate.WithEvidenceWait(cfg.evidenceWait), gate.WithRegistry(registry))
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	log.Info("gate running", "policies", len(policies.Policies()), "trusted_keys", len(keys), "decision_key_id", signer.KeyID())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.evidenceWait+15*time.Second)
	defer cancel()
	return errors.Join(svc.Shutdown(sctx), conn.Close())
}

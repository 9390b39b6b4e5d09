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
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/services/attestor"
)

type config struct {
	daemon.Common
	keyPath         string
	concurrency     int
	scanConcurrency int
	referrers       string
}

func (c config) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.keyPath == "" {
		errs = append(errs, errors.New("no signing key: set CUSTODY_SIGNING_KEY or -key to a cosign key file or a KMS URI"))
	}
	if c.concurrency < 1 || c.concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency %d must be 1-64", c.concurrency))
	}
	if c.scanConcurrency < 1 || c.scanConcurrency > 64 {
		errs = append(errs, fmt.Errorf("scan concurrency %d must be 1-64", c.scanConcurrency))
	}
	switch attestor.ReferrersMode(c.referrers) {
	case attestor.ReferrersAuto, attestor.ReferrersOn, attestor.ReferrersOff:
	default:
		errs = append(errs, fmt.Errorf("referrers %q: use auto, on or off", c.referrers))
	}
	return errors.Join(errs...)
}

// Main runs the attestor with the command-line arguments args (without the program name)
// until ctx is cancelled, then drains it and returns the exit code: 0 after a clean stop or
// -h, daemon.ExitUsage for arguments that do not parse, daemon.ExitConfigError for a
// configuration that is not valid, daemon.ExitRunError when the attestor fails. Usage, flag
// errors and the JSON log go to stderr; nothing is written to stdout. Main never exits
// the process.
//
// Once the arguments parse, Main reads the key password from CUSTODY_KEY_PASSWORD and
// removes that variable from the process's environment.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := config{Common: daemon.Common{Name: "attestor", Uses: daemon.UsesBlobs | daemon.UsesRegistries | daemon.UsesReplicas}}
	fs := daemon.NewFlagSet(cfg.Name, stderr)
	cfg.RegisterFlags(fs)
	fs.StringVar(&cfg.keyPath, "key", os.Getenv("CUSTODY_SIGNING_KEY"), "signing key `ref`: a cosign-format key file (password in CUSTODY_KEY_PASSWORD) or a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://)")
	fs.IntVar(&cfg.concurrency, "concurrency", attestor.DefaultConcurrency, "build events handled at once")
	fs.IntVar(&cfg.scanConcurrency, "scan-concurrency", attestor.DefaultScanConcurrency,
		"scan events handled at once (each holds an SBOM of up to 64 MiB and what is made from it)")
	fs.StringVar(&cfg.referrers, "referrers", daemon.EnvOr("CUSTODY_REFERRERS", string(attestor.ReferrersAuto)),
		"also attach each envelope as a Sigstore bundle referrer: `auto` (where the registry implements the OCI referrers API), on or off")
	if code, ok := daemon.ParseFlags(fs, args); !ok {
		return code
	}

	password := []byte(os.Getenv("CUSTODY_KEY_PASSWORD"))
	_ = os.Unsetenv("CUSTODY_KEY_PASSWORD")
	defer clear(password)
	return daemon.Run(ctx, stderr, cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, password, log) })
}

func run(ctx context.Context, cfg config, password []byte, log *slog.Logger) error {
	registry, err := cfg.Registry("custody-attestor")
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
		attestor.WithScanConcurrency(cfg.scanConcurrency),
		attestor.WithReferrers(attestor.ReferrersMode(cfg.referrers)),
		attestor.WithRegistry(registry),
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

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/httpsec"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/services/ingest"
)

type config struct {
	daemon.Common
	api      daemon.API
	httpAddr string
}

func (c config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("http address %q: %w", c.httpAddr, err))
	}
	return errors.Join(append(errs, c.common().Validate(), c.api.Validate())...)
}

// importEnabled reports whether trusted keys are configured. With them ingest imports
// attestations (POST /v1/attestations) and needs the blob bucket; without them that
// endpoint answers 501 and ingest runs as it always has, with neither.
func (c config) importEnabled() bool { return strings.Trim(c.TrustedKeys, " ,") != "" }

// common is the shared configuration with the parts import needs dropped when it is off.
func (c config) common() daemon.Common {
	cc := c.Common
	if !c.importEnabled() {
		cc.Uses &^= daemon.UsesBlobs | daemon.UsesTrustedKeys
	}
	return cc
}

// Main runs ingest with the command-line arguments args (without the program name) until
// ctx is cancelled, then drains it and returns the exit code: 0 after a clean stop or -h,
// daemon.ExitUsage for arguments that do not parse, daemon.ExitConfigError for a
// configuration that is not valid, daemon.ExitRunError when ingest fails. Usage, flag
// errors and the JSON log go to stderr; nothing is written to stdout. Main never exits the
// process.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := config{Common: daemon.Common{Name: "ingest", Uses: daemon.UsesBlobs | daemon.UsesTrustedKeys | daemon.UsesRegistries}}
	fs := daemon.NewFlagSet(cfg.Name, stderr)
	cfg.RegisterFlags(fs)
	cfg.api.RegisterFlags(fs)
	fs.StringVar(&cfg.httpAddr, "http", daemon.EnvOr("CUSTODY_HTTP_ADDR", "127.0.0.1:8080"), "address to serve HTTP on")
	if code, ok := daemon.ParseFlags(fs, args); !ok {
		return code
	}
	return daemon.Run(ctx, stderr, cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	// Promotion requests may name a tag: ingest resolves it once and pins the digest.
	remoteOpts, err := cfg.RemoteOptions("custody-ingest")
	if err != nil {
		return err
	}
	guard, err := cfg.api.Guard(ctx, log)
	if err != nil {
		return err
	}
	opts := []ingest.Option{ingest.WithLogger(log), ingest.WithTagResolution(remoteOpts...), ingest.WithAuthorizer(guard)}
	var verifier *verify.Verifier
	if cfg.importEnabled() {
		keys, err := daemon.LoadTrustedKeys(cfg.TrustedKeys)
		if err != nil {
			return err
		}
		if verifier, err = verify.NewVerifier(keys); err != nil {
			return err
		}
		opts = append(opts, ingest.WithVerifier(verifier))
	}
	conn, err := cfg.common().Connect(ctx, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	if verifier != nil {
		opts = append(opts, ingest.WithBlobs(conn.Blobs))
		log.Info("attestation import enabled", "trusted_keys", verifier.KeyIDs(), "blob_bucket", cfg.BlobBucket)
	} else {
		log.Info("attestation import disabled: no trusted keys (CUSTODY_TRUSTED_KEYS)")
	}
	svc, err := ingest.New(conn.Bus, opts...)
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	log.Info("serving", "addr", cfg.httpAddr, "tls", cfg.api.TLSCert != "")
	// Attestation imports carry envelopes up to verify.DefaultMaxEnvelopeSize; every
	// route bounds its own body below that.
	h, err := httpsec.Harden(log, guard.Middleware(svc.Handler()), httpsec.WithBodyLimit(ingest.MaxAttestationRequestSize))
	if err != nil {
		return err
	}
	err = cfg.api.Serve(ctx, cfg.httpAddr, h, log)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return errors.Join(err, svc.Shutdown(sctx), conn.Close())
}

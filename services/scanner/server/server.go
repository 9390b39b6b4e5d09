package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/vuln"
	"github.com/custody-dev/custody/services/scanner"
)

type config struct {
	daemon.Common
	tmpDir       string
	concurrency  int
	timeout      time.Duration
	maxImageSize int64
	vulnDB       string
	ledgerToken  daemon.Token
	fpKeyFile    string
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
	if c.vulnDB != "" {
		if _, err := c.vulnSource(); err != nil {
			errs = append(errs, fmt.Errorf("-vulndb: %w", err))
		}
	}
	if c.fpKeyFile != "" {
		if _, err := readFingerprintKey(c.fpKeyFile); err != nil {
			errs = append(errs, err)
		}
	}
	if c.tmpDir != "" {
		if fi, err := os.Stat(c.tmpDir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("scan temp dir %q is not a directory", c.tmpDir))
		}
	}
	return errors.Join(errs...)
}

// Main runs the scanner with the command-line arguments args (without the program name)
// until ctx is cancelled, then drains it and returns the exit code: 0 after a clean stop or
// -h, daemon.ExitUsage for arguments that do not parse, daemon.ExitConfigError for a
// configuration that is not valid, daemon.ExitRunError when the scanner fails. Usage, flag
// errors and the JSON log go to stderr; nothing is written to stdout. Main never exits
// the process.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := config{Common: daemon.Common{Name: "scanner", Uses: daemon.UsesBlobs | daemon.UsesRegistries | daemon.UsesReplicas}}
	fs := daemon.NewFlagSet(cfg.Name, stderr)
	cfg.RegisterFlags(fs)
	fs.StringVar(&cfg.tmpDir, "tmpdir", os.Getenv("CUSTODY_SCAN_TMPDIR"), "directory for layers being read (default: system temp dir)")
	fs.IntVar(&cfg.concurrency, "concurrency", 2, "images scanned at once")
	fs.DurationVar(&cfg.timeout, "scan-timeout", 15*time.Minute, "bound on one pull and scan")
	fs.Int64Var(&cfg.maxImageSize, "max-image-size", 16<<30, "largest uncompressed image scanned, in bytes")
	fs.StringVar(&cfg.vulnDB, "vulndb", os.Getenv("CUSTODY_VULNDB_URL"),
		"ledger API URL whose vulnerability database (custody vulndb import) every scan is matched against; none: no vulnerability report")
	cfg.ledgerToken.RegisterFlags(fs, "ledger-token", "CUSTODY_LEDGER_TOKEN", "the API token (auditor role) for the ledger at -vulndb")
	fs.StringVar(&cfg.fpKeyFile, "secrets-fingerprint-key-file", os.Getenv("CUSTODY_SECRETS_FINGERPRINT_KEY_FILE"),
		"file holding the key (at least 16 bytes) of the secrets findings' HMAC fingerprints; default a public key, so fingerprints of weak secrets can be tested against guesses")
	if code, ok := daemon.ParseFlags(fs, args); !ok {
		return code
	}
	return daemon.Run(ctx, stderr, cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
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
	opts := []scanner.Option{
		scanner.WithLogger(log),
		scanner.WithConcurrency(cfg.concurrency),
		scanner.WithScanTimeout(cfg.timeout),
		scanner.WithScanOptions(scanOpts...),
		scanner.WithRemoteOptions(remoteOpts...),
	}
	if cfg.vulnDB != "" {
		src, err := cfg.vulnSource()
		if err != nil {
			return err
		}
		opts = append(opts, scanner.WithVulnDB(src))
	}
	if cfg.fpKeyFile != "" {
		key, err := readFingerprintKey(cfg.fpKeyFile)
		if err != nil {
			return err
		}
		opts = append(opts, scanner.WithSecretsOptions(secrets.WithFingerprintKey(key)))
	}
	svc, err := scanner.New(conn.Bus, conn.Blobs, opts...)
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

// readFingerprintKey reads the secrets fingerprint key: the file's bytes, trailing
// newline removed, at least 16 of them.
func readFingerprintKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets fingerprint key: %w", err)
	}
	key := bytes.TrimRight(data, "\r\n")
	if len(key) < 16 {
		return nil, fmt.Errorf("secrets fingerprint key %s: %d bytes, want at least 16 (e.g. head -c 32 /dev/urandom | base64 > %s)", path, len(key), path)
	}
	return key, nil
}

// vulnSource is the ledger's vulnerability database at -vulndb, asked with
// -ledger-token.
func (c config) vulnSource() (*vuln.HTTPSource, error) {
	u, err := url.Parse(c.vulnDB)
	if err != nil {
		return nil, err
	}
	token, err := c.ledgerToken.Get()
	if err != nil {
		return nil, err
	}
	rt, err := auth.NewBearerTransport(nil, u, token)
	if err != nil {
		return nil, err
	}
	return vuln.NewHTTPSource(c.vulnDB, &http.Client{Timeout: 2 * time.Minute, Transport: rt})
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/httpsec"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
	"github.com/custody-dev/custody/services/ledger"
	"github.com/custody-dev/custody/services/ledger/pages"
)

type config struct {
	daemon.Common
	api      daemon.API
	dbRef    string
	httpAddr string
	logKey   string
	logPub   string
	// decisionKeys are the gate's public keys; decisions are recorded only with a VSA
	// they signed.
	decisionKeys string
}

func (c config) Validate() error {
	var errs []error
	if c.dbRef == "" {
		errs = append(errs, errors.New("database is empty; set CUSTODY_DB or -db to a SQLite file or a postgres:// URL"))
	}
	if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("http address %q: %w", c.httpAddr, err))
	}
	if (c.logKey == "") != (c.logPub == "") {
		errs = append(errs, errors.New("log key: set both CUSTODY_LOG_KEY and CUSTODY_LOG_PUB (-log-key, -log-pub), or neither"))
	}
	return errors.Join(append(errs, c.Common.Validate(), c.api.Validate())...)
}

// Main runs the ledger with the command-line arguments args (without the program name)
// until ctx is cancelled, then drains it and returns the exit code: 0 after a clean stop or
// -h, daemon.ExitUsage for arguments that do not parse, daemon.ExitConfigError for a
// configuration that is not valid, daemon.ExitRunError when the ledger fails. Usage, flag
// errors and the JSON log go to stderr; nothing is written to stdout. Main never exits
// the process.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := config{Common: daemon.Common{Name: "ledger", Uses: daemon.UsesBlobs | daemon.UsesTrustedKeys}}
	fs := daemon.NewFlagSet(cfg.Name, stderr)
	cfg.RegisterFlags(fs)
	cfg.api.RegisterFlags(fs)
	fs.StringVar(&cfg.dbRef, "db", daemon.EnvOr("CUSTODY_DB", "./custody.db"), "ledger database: a SQLite `file`, or a postgres:// URL")
	fs.StringVar(&cfg.httpAddr, "http", daemon.EnvOr("CUSTODY_HTTP_ADDR", "127.0.0.1:8081"), "address to serve HTTP on")
	fs.StringVar(&cfg.logKey, "log-key", daemon.EnvOr("CUSTODY_LOG_KEY", ""), "note private key `file` that signs log checkpoints")
	fs.StringVar(&cfg.decisionKeys, "decision-keys", daemon.EnvOr("CUSTODY_DECISION_KEYS", ""),
		"comma-separated `files` of the gate's public keys: record a decision only when its VSA verifies with them (recommended; without it decisions are recorded as their events state)")
	fs.StringVar(&cfg.logPub, "log-pub", daemon.EnvOr("CUSTODY_LOG_PUB", ""), "note verifier key `file` of -log-key")
	if code, ok := daemon.ParseFlags(fs, args); !ok {
		return code
	}
	return daemon.Run(ctx, stderr, cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	keys, err := daemon.LoadTrustedKeys(cfg.TrustedKeys)
	if err != nil {
		return err
	}
	verifier, err := verify.NewVerifier(keys)
	if err != nil {
		return err
	}
	store, err := ledger.OpenStore(ctx, cfg.dbRef)
	if err != nil {
		return err
	}
	defer store.Close()
	conn, err := cfg.Connect(ctx, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	guard, err := cfg.api.Guard(ctx, log)
	if err != nil {
		return err
	}
	opts := []ledger.Option{ledger.WithLogger(log), ledger.WithAuthorizer(guard)}
	if cfg.logKey != "" {
		opt, err := logSigner(cfg.logKey, cfg.logPub)
		if err != nil {
			return err
		}
		opts = append(opts, opt)
	}
	if cfg.decisionKeys != "" {
		gateKeys, err := daemon.LoadTrustedKeys(cfg.decisionKeys)
		if err != nil {
			return fmt.Errorf("decision keys: %w", err)
		}
		decisions, err := verify.NewVerifier(gateKeys)
		if err != nil {
			return fmt.Errorf("decision keys: %w", err)
		}
		opts = append(opts, ledger.WithDecisionKeys(decisions))
	} else {
		log.Warn("no decision keys (CUSTODY_DECISION_KEYS): gate decisions are recorded without checking their signed VSA")
	}
	svc, err := ledger.New(conn.Bus, conn.Blobs, store, verifier, opts...)
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	log.Info("serving", "addr", cfg.httpAddr, "tls", cfg.api.TLSCert != "", "db", ledger.RedactStoreRef(cfg.dbRef), "trusted_keys", verifier.KeyIDs())
	// The API behind the token guard; the auditors' pages (their own hardening, and a
	// session guard admitting the same credentials) beside it.
	api, err := httpsec.Harden(log, ledger.GuardedHandler(svc, guard), httpsec.WithBodyLimit(vuln.MaxImportBody))
	if err != nil {
		return err
	}
	pageGuard, err := cfg.api.SessionGuard(ctx, log, pages.LoginPath)
	if err != nil {
		return err
	}
	ui, err := pages.New(svc.AuditService(), pageGuard, pages.WithLogger(log))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(pages.Prefix, ui)
	mux.Handle("/", api)
	err = cfg.api.Serve(ctx, cfg.httpAddr, mux, log, httpsec.WithProtocols(ledger.Protocols()))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return errors.Join(err, svc.Shutdown(sctx), conn.Close())
}

// logSigner reads the log's note key pair.
func logSigner(keyFile, pubFile string) (ledger.Option, error) {
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	vkey, err := os.ReadFile(pubFile)
	if err != nil {
		return nil, fmt.Errorf("log verifier key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", keyFile, err)
	}
	return ledger.WithLogSigner(signer, strings.TrimSpace(string(vkey))), nil
}

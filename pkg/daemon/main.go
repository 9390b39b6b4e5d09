package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/custody-dev/custody/pkg/telemetry"
)

// Exit codes of Main.
const (
	ExitRunError    = 1 // run returned an error
	ExitConfigError = 2 // validate returned an error; run was not called
)

// Main is the whole life of a service process after its flags are parsed. It logs JSON
// to stderr as service, validates the configuration (exiting ExitConfigError on error),
// then calls run with a context that is cancelled on SIGINT or SIGTERM, and exits
// ExitRunError if run fails. run owns shutdown: it returns once it has drained. Main is
// Run with the process's signals, stderr and exit.
func Main(service string, validate func() error, run func(ctx context.Context, log *slog.Logger) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Stderr, service, validate, run)
	stop()
	if code != 0 {
		os.Exit(code)
	}
}

func lifecycle(ctx context.Context, log *slog.Logger, service string, validate func() error, run func(context.Context, *slog.Logger) error) int {
	if err := validate(); err != nil {
		log.Error("invalid configuration", "error", err)
		return ExitConfigError
	}
	if err := run(ctx, log); err != nil {
		log.Error(service+" stopped", "error", err)
		return ExitRunError
	}
	return 0
}

// Logger returns the logger a service writes to stderr: JSON records carrying
// service=<service> and, when logged with a span in the context, its trace and span ids.
func Logger(service string) *slog.Logger { return newLogger(os.Stderr, service) }

func newLogger(w io.Writer, service string) *slog.Logger {
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, nil))).With("service", service)
}

// HTTPServer returns a server for handler on addr with the timeouts and header limit every
// Custody HTTP API uses, logging its own errors to log as warnings.
func HTTPServer(addr string, handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// ExitUsage is the exit code of a command line that does not parse: an unknown flag, a
// bad flag value or an unexpected argument. It is the code flag.ExitOnError uses, and the
// same number as ExitConfigError.
const ExitUsage = 2

// NewFlagSet returns the flag set of a service's Main: named service, reporting errors and
// the usage (for -h) on stderr instead of exiting.
func NewFlagSet(service string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(service, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\nA setting read from a CUSTODY_* environment variable defaults to it; the defaults below include them.\n\nFlags:\n", service)
		fs.PrintDefaults()
	}
	return fs
}

// ParseFlags parses args with fs, a flag set from NewFlagSet, and reports whether the
// service should go on. When it should not, code is what the process exits with: 0 after
// -h or -help printed the usage, ExitUsage after a flag error or an argument that is not a
// flag (services take none), with the problem written to fs's output.
func ParseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return ExitUsage, false // the flag package has written the error and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q: every setting is a flag (-h lists them)\n", fs.Name(), fs.Arg(0))
		return ExitUsage, false
	}
	return 0, true
}

// Run is Main for a caller that owns the process, such as `custody serve`: it logs JSON
// to stderr as service, validates the configuration (returning ExitConfigError on error),
// then calls run with ctx, and returns ExitRunError if run fails and 0 otherwise. The
// caller cancels ctx to stop the service (Main does so on SIGINT or SIGTERM); run owns
// shutdown and returns once it has drained. Run never exits the process.
func Run(ctx context.Context, stderr io.Writer, service string, validate func() error, run func(ctx context.Context, log *slog.Logger) error) int {
	return lifecycle(ctx, newLogger(stderr, service), service, validate, run)
}

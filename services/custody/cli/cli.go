package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitDenied = 1
	ExitError  = 2
)

const defaultServer = "http://127.0.0.1:8080"

// env is what a command runs with.
type env struct {
	stdout, stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"dev", "run every Custody service in one process on embedded parts", runDev},
		{"demo", "push a sample image to a running `custody dev`, build, promote and show its provenance", runDemo},
		{"event", "publish a pipeline event: `custody event build --image REF@sha256:... ...`", runEvent},
		{"promote", "request promotion of an image by digest: `custody promote REF@sha256:... --to REPO[:TAG] --wait`", runPromote},
		{"policy", "promotion policies: `custody policy lint FILE...`, `custody policy test FILE --image REF@sha256:... --key custody.pub` (evaluate without promoting)", runPolicy},
		{"provenance", "show where a digest came from: build, attestations, decisions, promotions, timeline", runProvenance},
		{"artifacts", "list recorded artifacts: `custody artifacts list [--source-repository URL] [--status promoted] [--since 72h] [-o table|json]`", runArtifacts},
		{"affected", "which artifacts a vulnerability or package affects, and where they were promoted: `custody affected CVE-...|GHSA-...|pkg:...`", runAffected},
		{"decisions", "the gate's decisions and their policies: `custody decisions [REF@sha256:...] [--verdict denied]`, `custody decisions --request ID`", runDecisions},
		{"log", "the ledger's append-only log: `custody log checkpoint > cp`, `custody log verify --checkpoint cp`", runLog},
		{"attest", "attestations made elsewhere: `custody attest import REF@sha256:...` records cosign attestations signed by a trusted key", runAttest},
		{"scan", "scan an image without a server: `custody scan REF@sha256:...|--tarball FILE [-o table|json|cyclonedx-json|spdx-json] [--vulndb PATH]` (SBOM, licenses, secrets, vulnerabilities)", runScan},
		{"bundle", "offline evidence: `custody bundle export REF@sha256:... -o bundle.json`, `custody bundle verify bundle.json --key custody.pub`", runBundle},
		{"serve", "run one Custody service: `custody serve ledger|ingest|scanner|attestor|gate|promoter [flags]`", runServe},
		{"keys", "signing keys: `custody keys generate` (cosign format), `custody keys id FILE.pub`", runKeys},
		{"tokens", "API tokens: `custody tokens create --name ci --role pipeline [--scope REPO] --file tokens.yaml` (prints the token once; servers read the file)", runTokens},
		{"vulndb", "the vulnerability database: `custody vulndb import PATH` (OSV .json directory or all.zip), `custody vulndb status`", runVulnDB},
		{"version", "print the version", runVersion},
	}
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// denied returns an error that exits 1.
func denied(format string, args ...any) error {
	return &exitError{code: ExitDenied, err: fmt.Errorf(format, args...)}
}

// errUsage marks usage errors (exit 2, with a hint).
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// Run executes the custody command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := env{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		if len(args) == 0 {
			return ExitError
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		if err == nil {
			return ExitOK
		}
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		fmt.Fprintf(stderr, "custody %s: %s\n", c.name, strings.TrimPrefix(err.Error(), "usage: "))
		var xe *exitError
		if errors.As(err, &xe) {
			return xe.code
		}
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "run 'custody %s -h' for usage\n", c.name)
		}
		return ExitError
	}
	fmt.Fprintf(stderr, "custody: unknown command %q; run 'custody help'\n", args[0])
	return ExitError
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "custody: supply-chain evidence for container images, from build to production.")
	fmt.Fprintln(w, "\nUsage: custody <command> [arguments]\n\nCommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'custody <command> -h' for a command's flags.")
}

// cmdFlags is a command's FlagSet and its full usage text.
type cmdFlags struct {
	*flag.FlagSet
	usage func()
	// token is --token, registered by serverFlag.
	token *string
}

// bearer returns the API token: --token, else the environment's CUSTODY_TOKEN, else "".
func (fs *cmdFlags) bearer() string {
	if fs.token != nil && *fs.token != "" {
		return *fs.token
	}
	return os.Getenv("CUSTODY_TOKEN")
}

// newFlags makes a FlagSet that reports errors instead of exiting. Parse errors become
// one line (see Run); the full usage is printed only for -h.
func newFlags(e env, name, usage string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, usage: func() {
		fmt.Fprintf(e.stderr, "Usage: custody %s\n\nFlags:\n", usage)
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}}
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *cmdFlags, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.usage()
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func serverFlag(fs *cmdFlags) *string {
	def := os.Getenv("CUSTODY_SERVER")
	if def == "" {
		def = defaultServer
	}
	// The default stays empty so that -h never prints a token from the environment.
	fs.token = fs.String("token", "", "API bearer `TOKEN` sent with every request (default env CUSTODY_TOKEN; "+
		"prefer the environment: a flag shows in the process list)")
	return fs.String("server", def, "Custody API `URL` (env CUSTODY_SERVER)")
}

var version = "dev"

func runVersion(_ context.Context, e env, _ []string) error {
	fmt.Fprintf(e.stdout, "custody %s\n", version)
	return nil
}

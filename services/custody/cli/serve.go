package cli

import (
	"context"
	"fmt"
	"io"

	attestorserver "github.com/custody-dev/custody/services/attestor/server"
	gateserver "github.com/custody-dev/custody/services/gate/server"
	ingestserver "github.com/custody-dev/custody/services/ingest/server"
	ledgerserver "github.com/custody-dev/custody/services/ledger/server"
	promoterserver "github.com/custody-dev/custody/services/promoter/server"
	scannerserver "github.com/custody-dev/custody/services/scanner/server"
)

// servedService is a service `custody serve` runs: its server package's Main, the same
// function the service's own binary (services/<name>/cmd/<name>) calls.
type servedService struct {
	name    string
	summary string
	main    func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// servedServices lists the services in the order events flow through them.
func servedServices() []servedService {
	return []servedService{
		{"ingest", "HTTP API for build events and promotion requests (-http, CUSTODY_HTTP_ADDR)", ingestserver.Main},
		{"scanner", "pulls built images and stores their SBOMs", scannerserver.Main},
		{"attestor", "signs provenance and SBOM attestations and attaches them to images (-key, CUSTODY_SIGNING_KEY)", attestorserver.Main},
		{"ledger", "records events and verified attestations; provenance HTTP API (-db, CUSTODY_DB: SQLite file or postgres:// URL)", ledgerserver.Main},
		{"gate", "decides promotion requests against policies (-policies, -ledger)", gateserver.Main},
		{"promoter", "copies images whose promotion the gate allowed", promoterserver.Main},
	}
}

// runServe runs one service in the foreground until ctx is cancelled (SIGINT or SIGTERM
// for the custody binary). The arguments after the service's name are the service's own:
// the same flags, each defaulting to the same CUSTODY_* environment variable, as its
// binary. A service that stops with a non-zero code makes custody exit with that code.
func runServe(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		printServeHelp(e.stderr)
		return usageErr("name the service to run")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printServeHelp(e.stdout)
		return nil
	}
	for _, s := range servedServices() {
		if s.name != args[0] {
			continue
		}
		if code := s.main(ctx, args[1:], e.stdout, e.stderr); code != 0 {
			return &exitError{code: code, err: fmt.Errorf("%s stopped with exit code %d (its log above says why)", s.name, code)}
		}
		return nil
	}
	return usageErr("unknown service %q; run 'custody serve help' for the list", args[0])
}

func printServeHelp(w io.Writer) {
	fmt.Fprintln(w, "Usage: custody serve SERVICE [flags]")
	fmt.Fprintln(w, "\nRuns one Custody service in the foreground with the flags and CUSTODY_* environment")
	fmt.Fprintln(w, "variables of that service's own binary, logging JSON to stderr, until interrupted.")
	fmt.Fprintln(w, "It exits with the service's exit code: 1 when it failed, 2 for bad flags or configuration.")
	fmt.Fprintln(w, "\nServices:")
	for _, s := range servedServices() {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.summary)
	}
	fmt.Fprintln(w, "\nRun 'custody serve SERVICE -h' for a service's flags.")
}

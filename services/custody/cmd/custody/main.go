// Command custody is Custody's single entry point: pipeline verbs (event build, promote),
// auditor verbs (provenance), `custody dev`, which runs every service in one process, and
// `custody serve SERVICE`, which runs one service as its own binary would.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody-dev/custody/services/custody/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

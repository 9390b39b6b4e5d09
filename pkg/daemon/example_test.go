package daemon_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/custody-dev/custody/pkg/daemon"
)

func ExampleCommon_RegisterFlags() {
	c := daemon.Common{Name: "promoter", Uses: daemon.UsesBlobs | daemon.UsesTrustedKeys}
	fs := flag.NewFlagSet("promoter", flag.ContinueOnError)
	c.RegisterFlags(fs)
	_ = fs.Parse([]string{"-nats", "nats://nats:4222", "-stream", "CUSTODY", "-subject-prefix", "custody",
		"-blob-bucket", "BLOBS", "-trusted-keys", ""})
	fmt.Println(c.NATSURL, c.Stream, c.Prefix, c.BlobBucket)
	fmt.Println(fs.Lookup("insecure-registries") == nil)
	fmt.Println(c.Validate())
	// Output:
	// nats://nats:4222 CUSTODY custody BLOBS
	// true
	// no trusted keys: set CUSTODY_TRUSTED_KEYS or -trusted-keys to comma-separated PEM public key files or a trust file (.yaml)
}

// A service's main registers the shared flags and its own, parses them and hands the rest
// of the process's life to Main.
func ExampleMain() {
	cfg := daemon.Common{Name: "example", Uses: daemon.UsesBlobs}
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()
	daemon.Main(cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error {
		conn, err := cfg.Connect(ctx, log)
		if err != nil {
			return err
		}
		defer conn.Close()
		// Build the service from conn.Bus and conn.Blobs and start it here.
		<-ctx.Done()
		return conn.Close()
	})
}

// A service's server package parses its own flag set and hands the rest of the process's
// life to Run, which returns the exit code instead of exiting, so that both the service's
// binary and `custody serve` can call it.
func ExampleRun() {
	cfg := daemon.Common{Name: "example"}
	fs := daemon.NewFlagSet(cfg.Name, os.Stdout) // a service writes its usage to stderr
	cfg.RegisterFlags(fs)
	if code, ok := daemon.ParseFlags(fs, []string{"-nats", "nats://nats:4222", "extra"}); !ok {
		fmt.Println("exit", code)
	}
	if _, ok := daemon.ParseFlags(fs, []string{"-nats", "nats://nats:4222"}); ok {
		code := daemon.Run(context.Background(), io.Discard, cfg.Name, cfg.Validate, func(ctx context.Context, log *slog.Logger) error {
			fmt.Println("running against", cfg.NATSURL)
			return nil
		})
		fmt.Println("exit", code)
	}
	// Output:
	// example: unexpected argument "extra": every setting is a flag (-h lists them)
	// exit 2
	// running against nats://nats:4222
	// exit 0
}

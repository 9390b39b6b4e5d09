package daemontest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/custody-dev/custody/pkg/daemon"
)

// fakeMain is a service's Main the way the services write it: one flag of its own, read
// from the environment by default, validated before it runs.
func fakeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := daemon.NewFlagSet("fake", stderr)
	name := fs.String("name", daemon.EnvOr("CUSTODY_FAKE_NAME", ""), "a `name` that must not be empty")
	fs.Bool("verbose", false, "log more")
	if code, ok := daemon.ParseFlags(fs, args); !ok {
		return code
	}
	validate := func() error {
		if *name == "" {
			return errors.New("name is empty")
		}
		return nil
	}
	return daemon.Run(ctx, stderr, "fake", validate, func(context.Context, *slog.Logger) error {
		return errors.New("no server here")
	})
}

func TestCheckRefusals(t *testing.T) {
	t.Setenv("CUSTODY_FAKE_NAME", "")
	CheckRefusals(t, fakeMain, []Case{
		{Name: "unknown flag", Args: []string{"-frobnicate"}, WantCode: daemon.ExitUsage, WantErr: "flag provided but not defined: -frobnicate"},
		{Name: "argument", Args: []string{"extra"}, WantCode: daemon.ExitUsage, WantErr: `unexpected argument "extra"`},
		{Name: "empty name", WantCode: daemon.ExitConfigError, WantErr: "name is empty"},
		{Name: "name in the environment", Env: map[string]string{"CUSTODY_FAKE_NAME": "x"}, WantCode: daemon.ExitRunError, WantErr: "no server here"},
	})
}

func TestCheckUsage(t *testing.T) {
	CheckUsage(t, fakeMain, "-name", "-verbose")
}

// The checks fail a run that does not refuse as the case says.
func TestRefusalProblems(t *testing.T) {
	c := Case{Name: "empty name", WantCode: daemon.ExitConfigError, WantErr: "name is empty"}
	tests := []struct {
		name           string
		code           int
		stdout, stderr string
		want           int // problems
	}{
		{"refused", daemon.ExitConfigError, "", `{"msg":"invalid configuration","error":"name is empty"}`, 0},
		{"ran", daemon.ExitRunError, "", "no server here", 2},
		{"other problem", daemon.ExitConfigError, "", "name is too long", 1},
		{"wrote stdout", daemon.ExitConfigError, "hello", "name is empty", 1},
		{"exited 0", 0, "", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusalProblems(c, tt.code, tt.stdout, tt.stderr); len(got) != tt.want {
				t.Errorf("refusalProblems = %q, want %d problems", got, tt.want)
			}
		})
	}
}

func TestMissingFlags(t *testing.T) {
	usage := "Usage: fake [flags]\n\nFlags:\n  -ledger url\n    \tthe ledger\n  -ledger-token token\n    \ta token\n  -v\tlog more\n  -verbose\n    \tlog more\n"
	got := missingFlags(usage, []string{"-ledger", "-ledger-token", "-v", "-verbose", "-nats", "-ledger-"})
	if want := []string{"-nats", "-ledger-"}; !slices.Equal(got, want) {
		t.Errorf("missingFlags = %q, want %q", got, want)
	}
}

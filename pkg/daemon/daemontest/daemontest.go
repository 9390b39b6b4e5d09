package daemontest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// MainFunc is the signature of a service's server.Main: it parses args, writes its log
// and any usage to stderr, and returns the process's exit code.
type MainFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Case is one command line that Main must refuse before it connects to anything.
type Case struct {
	Name     string
	Args     []string
	Env      map[string]string // environment variables set for this case only
	WantCode int               // the exit code, never 0
	WantErr  string            // what stderr must contain to name the problem, never empty
}

// CheckRefusals runs main once for each case, in a subtest named for the case, and fails
// it unless main exits with WantCode, stderr contains WantErr and nothing is written to
// stdout. A case wanting exit code 0 or no error text is a mistake in the test and stops
// it. Variables in Env are set with t.Setenv, so the test must not be parallel.
func CheckRefusals(t *testing.T, main MainFunc, cases []Case) {
	t.Helper()
	for _, c := range cases {
		if c.WantCode == 0 || c.WantErr == "" {
			t.Fatalf("case %q wants exit code %d and stderr %q: a refusal exits non-zero and names the problem", c.Name, c.WantCode, c.WantErr)
		}
		t.Run(c.Name, func(t *testing.T) {
			for k, v := range c.Env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := main(t.Context(), c.Args, &stdout, &stderr)
			for _, p := range refusalProblems(c, code, stdout.String(), stderr.String()) {
				t.Error(p)
			}
		})
	}
}

// refusalProblems says what is wrong with a run of Main that should have refused c.
func refusalProblems(c Case, code int, stdout, stderr string) []string {
	var problems []string
	if code != c.WantCode {
		problems = append(problems, fmt.Sprintf("Main exited %d, want %d; stderr %s", code, c.WantCode, stderr))
	}
	if !strings.Contains(stderr, c.WantErr) {
		problems = append(problems, fmt.Sprintf("stderr %q does not name the problem %q", stderr, c.WantErr))
	}
	if stdout != "" {
		problems = append(problems, fmt.Sprintf("stdout %q, want nothing", stdout))
	}
	return problems
}

// CheckUsage runs main with -h and fails unless it exits 0 and the usage it writes to
// stderr lists every one of flags, each written with its dash ("-nats").
func CheckUsage(t *testing.T, main MainFunc, flags ...string) {
	t.Helper()
	if len(flags) == 0 {
		t.Fatal("CheckUsage needs the flags the usage must list")
	}
	var stdout, stderr bytes.Buffer
	if code := main(t.Context(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("Main -h exited %d, want 0", code)
	}
	for _, flag := range missingFlags(stderr.String(), flags) {
		t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
	}
}

// missingFlags returns those of flags that usage, as flag.PrintDefaults writes it, does
// not list: a flag is listed when a line starts with it, followed by its value's type
// or, for a boolean flag, by nothing.
func missingFlags(usage string, flags []string) []string {
	listed := make(map[string]bool)
	for line := range strings.Lines(usage) {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "-") {
			listed[f[0]] = true
		}
	}
	var missing []string
	for _, flag := range flags {
		if !listed[flag] {
			missing = append(missing, flag)
		}
	}
	return missing
}

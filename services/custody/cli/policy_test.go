package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/policy"
)

func TestPolicyLint(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("default.yaml", policy.DefaultDevPolicyYAML)
	bad := write("bad.yaml", strings.Replace(policy.DefaultDevPolicyYAML, `== "urn:custody:builder:dev"`, `== 1 +`, 1))
	// Valid, but the required vulnerability scan has no maximum age: a warning.
	warn := write("warn.yaml", strings.Replace(policy.DefaultDevPolicyYAML, "      required: false\n      maxAge: 720h\n", "", 1))

	out, _, code := run(t, "policy", "lint", good)
	if code != ExitOK || !strings.Contains(out, "policy default (sha256:") {
		t.Errorf("lint of the dev default = %d\n%s", code, out)
	}
	out, stderr, code := run(t, "policy", "lint", good, bad)
	if code != ExitDenied || !strings.Contains(out, bad+": error:") || !strings.Contains(stderr, "1 of 2 policy files") {
		t.Errorf("lint with an invalid file = %d\n%s\n%s", code, out, stderr)
	}
	if out, _, code := run(t, "policy", "lint", warn); code != ExitOK || !strings.Contains(out, "warning spec.requirements[2]: vulns checks a vulnerability scan without maxAge") {
		t.Errorf("lint of a policy with a warning = %d, want %d and the warning\n%s", code, ExitOK, out)
	}
	out, _, code = run(t, "policy", "lint", "--strict", warn)
	if code != ExitDenied {
		t.Errorf("lint --strict with warnings = %d, want %d\n%s", code, ExitDenied, out)
	}
	if _, _, code := run(t, "policy", "lint"); code != ExitError {
		t.Errorf("lint without files = %d, want %d", code, ExitError)
	}
	if _, _, code := run(t, "policy", "test", good); code != ExitError {
		t.Errorf("test without --image and --key = %d, want %d", code, ExitError)
	}
}

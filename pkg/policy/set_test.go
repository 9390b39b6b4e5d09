package policy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/policy"
)

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSetPicksMostSpecific(t *testing.T) {
	set, err := policy.LoadDir(filepath.Join("testdata", "policies"))
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if n := len(set.Policies()); n != 3 {
		t.Fatalf("loaded %d policies, want 3 (.yaml and .yml)", n)
	}
	tests := []struct {
		dest, want string
	}{
		{"registry.example.com/prod/app", "production"},
		{"registry.example.com/prod/team/x/release", "production"},
		{"registry.example.com/prod/team/x", "default"},
		{"registry.example.com/staging/a/b", "staging"},
		{"127.0.0.1:5000/anything", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			p, err := set.For(tt.dest)
			if err != nil || p.Name() != tt.want {
				t.Fatalf("For(%q) = %v, %v; want %s", tt.dest, p, err, tt.want)
			}
		})
	}
}

func TestSetDenies(t *testing.T) {
	dir := t.TempDir()
	prod, err := os.ReadFile(filepath.Join("testdata", "policies", "prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "prod.yaml", string(prod))
	writeFile(t, dir, "prod-copy.yaml", strings.Replace(string(prod), "name: production", "name: production-copy", 1))
	writeFile(t, dir, "README.md", "not a policy")
	writeFile(t, dir, ".hidden.yaml", "not: a policy")
	set, err := policy.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	img := digestOf("e5")

	t.Run("no policy matches", func(t *testing.T) {
		_, err := set.For("registry.example.com/dev/app")
		if !errors.Is(err, policy.ErrNoPolicy) {
			t.Fatalf("For = %v, want ErrNoPolicy", err)
		}
		d := set.Evaluate(context.Background(), policy.Input{Digest: img, Destination: "registry.example.com/dev/app"})
		if d.Allowed || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "no policy governs") {
			t.Errorf("Evaluate = %+v, want a denial naming the missing policy", d)
		}
	})
	t.Run("two policies tie", func(t *testing.T) {
		_, err := set.For("registry.example.com/prod/app")
		if !errors.Is(err, policy.ErrAmbiguous) || !strings.Contains(err.Error(), "production, production-copy") {
			t.Fatalf("For = %v, want ErrAmbiguous naming both", err)
		}
		if d := set.Evaluate(context.Background(), policy.Input{Digest: img, Destination: "registry.example.com/prod/app"}); d.Allowed {
			t.Error("an ambiguous destination was allowed")
		}
	})
	t.Run("empty set", func(t *testing.T) {
		empty, err := policy.NewSet()
		if err != nil {
			t.Fatal(err)
		}
		if d := empty.Evaluate(context.Background(), policy.Input{Digest: img, Destination: "r/x"}); d.Allowed || d.Pending() {
			t.Errorf("empty set: %+v", d)
		}
	})
}

func TestLoadDirFailsOnOneBadFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "default.yaml", policy.DefaultDevPolicyYAML)
	writeFile(t, dir, "broken.yaml", strings.Replace(policy.DefaultDevPolicyYAML, "destinations", "destination", 1))
	_, err := policy.LoadDir(dir)
	if !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), "broken.yaml") {
		t.Fatalf("LoadDir = %v, want ErrInvalid naming broken.yaml", err)
	}
	writeFile(t, dir, "broken.yaml", strings.Replace(policy.DefaultDevPolicyYAML, "name: default", "name: other", 1))
	// Both valid and named differently: they tie on "**", which is an error only when a
	// destination is looked up.
	if _, err := policy.LoadDir(dir); err != nil {
		t.Fatalf("LoadDir with two valid policies: %v", err)
	}
	writeFile(t, dir, "broken.yaml", policy.DefaultDevPolicyYAML)
	if _, err := policy.LoadDir(dir); err == nil || !strings.Contains(err.Error(), `two policies are named "default"`) {
		t.Fatalf("LoadDir with duplicate names = %v", err)
	}
}

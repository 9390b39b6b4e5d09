package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/policy"
)

// FuzzLoad feeds arbitrary documents to the loader: it must never panic, and whatever it
// accepts must be self-consistent and must deny when given no evidence.
func FuzzLoad(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "policies", "*.y*ml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed policies in testdata/policies: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(policy.DefaultDevPolicyYAML))
	f.Add([]byte("apiVersion: custody.dev/v1\nkind: PromotionPolicy\nmetadata: {name: a}\nspec: {destinations: ['**'], requirements: [{name: r, predicateType: t, condition: 'true'}]}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a policy and an error")
			}
			return
		}
		if p.Name() == "" || !strings.HasPrefix(p.Digest(), "sha256:") || len(p.Requirements()) == 0 || len(p.Destinations()) == 0 {
			t.Fatalf("accepted an incomplete policy: %q", data)
		}
		again, err := policy.Parse(p.Raw())
		if err != nil || again.Digest() != p.Digest() {
			t.Fatalf("re-parsing the raw document: %v", err)
		}
		d := p.Evaluate(context.Background(), policy.Input{
			Digest:      "sha256:" + strings.Repeat("0", 64),
			Destination: "registry.example.com/prod/app",
		})
		if d.Allowed {
			t.Fatalf("allowed with no evidence: %q", data)
		}
	})
}

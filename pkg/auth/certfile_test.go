package auth_test

import (
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/auth"
)

func TestParseCertFile(t *testing.T) {
	good := `apiVersion: custody.dev/v1
kind: ClientCertificates
identities:
  - uri: spiffe://example.org/ci
    roles: [pipeline]
  - commonName: audit-bot
    roles: [auditor]
    scopes: [registry.example/team-a]
`
	if _, err := auth.ParseCertFile([]byte(good)); err != nil {
		t.Fatalf("ParseCertFile: %v", err)
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"empty":          {"", "empty"},
		"wrong kind":     {strings.Replace(good, "ClientCertificates", "APITokens", 1), "want custody.dev/v1 ClientCertificates"},
		"unknown field":  {good + "extra: 1\n", "unknown field"},
		"two documents":  {good + "---\n" + good, "more than one"},
		"no identity":    {"apiVersion: custody.dev/v1\nkind: ClientCertificates\nidentities: []\n", "no identities"},
		"unknown role":   {strings.Replace(good, "[pipeline]", "[root]", 1), "role"},
		"two keys":       {strings.Replace(good, "uri: spiffe://example.org/ci", "uri: spiffe://example.org/ci\n    dns: ci.example", 1), "exactly one"},
		"mapped twice":   {good + "  - uri: spiffe://example.org/ci\n    roles: [auditor]\n", "twice"},
		"scoped admin":   {strings.Replace(good, "[auditor]", "[admin]", 1), "admin"},
		"too large file": {strings.Repeat("#", auth.MaxTokenFileSize+1), "larger"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := auth.ParseCertFile([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseCertFile = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

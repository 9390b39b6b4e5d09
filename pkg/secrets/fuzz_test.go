package secrets_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/secrets"
)

// FuzzScan feeds arbitrary content in arbitrary chunks: scanning must not panic and
// must find the same findings as one write.
func FuzzScan(f *testing.F) {
	f.Add([]byte("password = hunter2abc\n"), uint8(1), "/etc/a.conf")
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"), uint8(3), "/k.pem")
	f.Add([]byte("machine h login u password p4ssw0rdX\n"), uint8(5), "/root/.netrc")
	f.Add([]byte(`{"auths":{"r":{"auth":"dTpwYXNzd29yZDE="}}}`), uint8(2), "/config.json")
	f.Add([]byte("url=https://u:Pa55word9@h/x AKIA ghp_ xox glpat- AIza npm_ pypi-AgE"), uint8(7), "/x")
	f.Fuzz(func(t *testing.T, content []byte, chunk uint8, path string) {
		if len(content) > 1<<20 {
			return
		}
		one := scan(t, path, string(content), secrets.WithMaxFileBytes(64<<10))
		many := scanChunks(t, path, string(content), []int{int(chunk) + 1, 2*int(chunk) + 3}, secrets.WithMaxFileBytes(64<<10))
		if diff := cmp.Diff(one, many); diff != "" {
			t.Errorf("chunked scan differs (-one +chunked):\n%s", diff)
		}
	})
}

// FuzzParsePredicate: arbitrary documents must not panic, and an accepted one must
// survive a round trip.
func FuzzParsePredicate(f *testing.F) {
	f.Add([]byte(`{"scanner":{"uri":"u","version":"v"},"ruleset":{"version":"1"},"status":"complete","stats":{"filesScanned":1,"filesBinary":0,"filesSkipped":0,"filesCapped":0,"bytesScanned":5,"findingsDropped":0},"findings":[],"truncated":false}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := secrets.ParsePredicate(data)
		if err != nil {
			return
		}
		out, err := secrets.Predicate(secrets.Report{Findings: p.Findings, Stats: p.Stats, Truncated: p.Truncated},
			secrets.PredicateMeta{ScannerURI: p.Scanner.URI, ScannerVersion: p.Scanner.Version, Failed: p.Status == secrets.StatusFailed})
		if err != nil {
			t.Fatalf("accepted predicate cannot be written back: %v", err)
		}
		if _, err := secrets.ParsePredicate(out); err != nil {
			t.Fatalf("written predicate rejected: %v", err)
		}
	})
}

package secrets_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/custody-dev/custody/pkg/secrets"
)

func ExampleScanner() {
	s, err := secrets.NewScanner(secrets.WithFingerprintKey([]byte("a key of our own")))
	if err != nil {
		log.Fatal(err)
	}
	// A layer walker calls File for every regular file of every layer and streams the
	// file's bytes into the writer it returns.
	content := "[database]\nhost = db.internal\npassword = " + "s3cr3t-Passw0rd\n"
	w := s.File(secrets.Location{Layer: "sha256:1d2e...", LayerIndex: 2, Path: "/etc/app/app.ini"}, int64(len(content)))
	if w != nil {
		r := strings.NewReader(content)
		buf := make([]byte, 7) // chunks of any size
		for {
			n, err := r.Read(buf)
			_, _ = w.Write(buf[:n])
			if err != nil {
				break
			}
		}
		_ = w.Close()
	}
	report := s.Report()
	for _, f := range report.Findings {
		fmt.Printf("%s %s %s:%d layer %d fingerprint of %d hex digits\n", f.RuleID, f.Severity, f.Path, f.Line, f.LayerIndex, len(f.Fingerprint))
	}
	pred, err := secrets.Predicate(report, secrets.PredicateMeta{ScannerURI: "https://custody.dev/scanner", ScannerVersion: "v1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Contains(string(pred), "s3cr3t"))
	// Output:
	// generic-password medium /etc/app/app.ini:3 layer 2 fingerprint of 32 hex digits
	// false
}

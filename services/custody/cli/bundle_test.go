package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/signing"
)

func bundleTestAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestBundleExportVerifyOffline runs the sample pipeline through an in-process `custody
// dev` (push, build, promote), exports the image's evidence bundle, stops the stack,
// and verifies the file offline with the keys `custody dev` wrote under DATA/keys. An
// edited byte must then make verify exit 1 and say what failed.
func TestBundleExportVerifyOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole dev stack")
	}
	data := t.TempDir()
	s := startDev(t, devConfig{
		data: data, addr: bundleTestAddr(t), registryAddr: bundleTestAddr(t), natsAddr: "127.0.0.1:0",
		stream: "CUSTODY", prefix: "custody", bucket: "CUSTODY_BLOBS", evidenceWait: time.Minute,
	})
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = s.shutdown(context.Background())
		}
	}
	t.Cleanup(stop)
	server := "http://" + s.cfg.addr

	out, stderr, code := run(t, "demo", "--server", server, "--registry", s.cfg.registryAddr)
	if code != ExitOK {
		t.Fatalf("demo = %d\n%s\n%s", code, out, stderr)
	}
	ref := regexp.MustCompile(`promoting (\S+@sha256:[a-f0-9]{64})`).FindStringSubmatch(out)
	if ref == nil {
		t.Fatalf("demo output names no promoted image:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "bundle.json")
	_, stderr, code = run(t, "bundle", "export", ref[1], "-o", file, "--server", server)
	if code != ExitOK || !strings.Contains(stderr, "1 decisions, 1 promotions") {
		t.Fatalf("bundle export = %d %s, want a bundle with the decision and promotion", code, stderr)
	}
	stop() // from here on, no server

	keys := filepath.Join(data, "keys")
	pub, logPub := filepath.Join(keys, "custody.pub"), filepath.Join(keys, "log.pub")
	gatePub := filepath.Join(keys, "gate.pub")
	// The bundle holds the decision's VSA, signed by the gate's key: without that key
	// the bundle does not verify.
	if _, stderr, code := run(t, "bundle", "verify", file, "--key", pub, "--log-key", logPub); code != ExitDenied ||
		!strings.Contains(stderr, "verification_summary") {
		t.Errorf("verify without the gate's key = %d %s, want exit 1 naming the VSA", code, stderr)
	}
	out, stderr, code = run(t, "bundle", "verify", file, "--key", pub, "--key", gatePub, "--log-key", logPub)
	if code != ExitOK {
		t.Fatalf("bundle verify = %d %s %s, want success", code, out, stderr)
	}
	for _, want := range []string{"verified for sha256:", "https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom",
		"decision ", ": allowed", "completed", "pinned with --log-key"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output does not mention %q:\n%s", want, out)
		}
	}
	// Without --log-key it verifies the signatures, and warns.
	_, stderr, code = run(t, "bundle", "verify", file, "--key", pub, "--key", gatePub)
	if code != ExitOK || !strings.Contains(stderr, "warning:") {
		t.Errorf("bundle verify without --log-key = %d %s, want success with a warning", code, stderr)
	}

	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(t *testing.T, change func(string) string) string {
		t.Helper()
		changed := change(string(doc))
		if changed == string(doc) {
			t.Fatal("the edit changed nothing")
		}
		p := filepath.Join(t.TempDir(), "edited.json")
		if err := os.WriteFile(p, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		change func(string) string
		want   string
	}{
		{"envelope byte", func(d string) string {
			i := strings.Index(d, `"envelope": "`) + len(`"envelope": "`) + 200
			c := byte('A')
			if d[i] == 'A' {
				c = 'B'
			}
			return d[:i] + string(c) + d[i+1:]
		}, "envelope 1 ("},
		{"decision verdict", func(d string) string {
			return strings.Replace(d, `"verdict": "allowed"`, `"verdict": "denied"`, 1)
		}, "verdict differ from log entry"},
		{"checkpoint size", func(d string) string {
			return regexp.MustCompile(`(custody\.dev/ledger\\n)(\d+)`).ReplaceAllStringFunc(d, func(m string) string {
				return m + "0"
			})
		}, "checkpoint: signature invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, "bundle", "verify", edit(t, tc.change), "--key", pub, "--key", gatePub, "--log-key", logPub)
			if code != ExitDenied || !strings.Contains(stderr, tc.want) {
				t.Errorf("verify of an edited bundle = %d %s, want exit 1 naming %q", code, stderr, tc.want)
			}
		})
	}
	// Another signing key is refused; a missing key file is a usage/IO error.
	_, otherPEM, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherPub := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(otherPub, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "bundle", "verify", file, "--key", otherPub, "--log-key", logPub); code != ExitDenied ||
		!strings.Contains(stderr, "signature does not verify with key") {
		t.Errorf("verify with another key = %d %s, want exit 1", code, stderr)
	}
	if _, _, code := run(t, "bundle", "verify", file, "--key", filepath.Join(data, "missing.pub")); code != ExitError {
		t.Errorf("verify with a missing key file = %d, want %d", code, ExitError)
	}
}

package secrets_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/secrets"
)

// TestHostFilesystem scans directories of this machine (read only) and logs what it
// finds, without the secrets: it is how the rules' false positives on a stock Debian
// filesystem are measured. Run it with
//
//	SECRETS_HOST_SCAN=/etc:/usr/share/doc:/usr/lib/python3 go test -run TestHostFilesystem -v
func TestHostFilesystem(t *testing.T) {
	dirs := os.Getenv("SECRETS_HOST_SCAN")
	if dirs == "" {
		t.Skip("set SECRETS_HOST_SCAN to a colon-separated list of directories")
	}
	s, err := secrets.NewScanner()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Split(dirs, ":") {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			w := s.File(secrets.Location{Layer: "host", Path: p}, info.Size())
			if w == nil {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				_ = w.Close()
				return nil
			}
			buf := make([]byte, 32<<10)
			for {
				n, err := f.Read(buf)
				_, _ = w.Write(buf[:n])
				if err != nil {
					break
				}
			}
			_ = f.Close()
			return w.Close()
		})
	}
	r := s.Report()
	byRule := map[string]int{}
	for _, f := range r.Findings {
		byRule[f.RuleID]++
		t.Logf("%s %s:%d %s", f.RuleID, f.Path, f.Line, f.KeyType)
	}
	var ids []string
	for id := range byRule {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.Logf("rule %s: %d", id, byRule[id])
	}
	t.Logf("stats %+v findings %d", r.Stats, len(r.Findings))
}

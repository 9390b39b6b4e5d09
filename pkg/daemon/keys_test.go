package daemon_test

import (
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

func writeKey(t *testing.T, path string) verify.TrustedKey {
	t.Helper()
	_, pub, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := verify.ParseTrustedKeyPEM("", pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoadTrustedKeys(t *testing.T) {
	dir := t.TempDir()
	first := writeKey(t, filepath.Join(dir, "release.pem"))
	second := writeKey(t, filepath.Join(dir, "ci.pub"))

	keys, err := daemon.LoadTrustedKeys(" " + filepath.Join(dir, "release.pem") + ",, " + filepath.Join(dir, "ci.pub") + " ")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2", len(keys))
	}
	for i, want := range []struct{ name, id string }{{"release", first.ID}, {"ci", second.ID}} {
		if keys[i].Name != want.name || keys[i].ID != want.id {
			t.Errorf("key %d = %s %s, want %s %s", i, keys[i].Name, keys[i].ID, want.name, want.id)
		}
	}
	if _, err := verify.NewVerifier(keys); err != nil {
		t.Errorf("NewVerifier(loaded keys): %v", err)
	}
}

func TestLoadTrustedKeysErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pem")
	writeKey(t, good)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name, files, want string
		is                error
	}{
		{"empty", " , ", "no trusted key files", nil},
		{"missing", good + "," + missing, missing, fs.ErrNotExist},
		{"garbage", good + "," + garbage, garbage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := daemon.LoadTrustedKeys(tt.files)
			if err == nil {
				t.Fatalf("LoadTrustedKeys = %d keys, nil error", len(keys))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestRemoteOptionsRejectsBadHostList(t *testing.T) {
	for _, hosts := range []string{"registry:5000/path", "user@registry", "ok:5000, bad host"} {
		c := daemon.Common{InsecureRegistries: hosts}
		if _, err := c.RemoteOptions("custody-test"); err == nil {
			t.Errorf("RemoteOptions(%q) = nil error", hosts)
		}
	}
}

// The options carry the user agent and the Docker config's credentials.
func TestRemoteOptions(t *testing.T) {
	const user, pass = "custody", "s3cret"
	var mu sync.Mutex
	var agents []string
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	dockerConfig := t.TempDir()
	auth := `{"auths":{"` + host + `":{"username":"` + user + `","password":"` + pass + `"}}}`
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dockerConfig)

	c := daemon.Common{InsecureRegistries: "registry.internal.test:5000"}
	for _, ua := range []string{"custody-test", ""} {
		opts, err := c.RemoteOptions(ua)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		agents = nil
		mu.Unlock()
		ref := ocitest.PushRandomImage(t, host+"/team/app", opts...)
		if _, err := remote.Head(ref, opts...); err != nil {
			t.Fatalf("head %s: %v", ref, err)
		}
		if _, err := remote.Head(ref); err == nil {
			t.Error("head without the Docker config's credentials succeeded; the test registry does not check them")
		}
		mu.Lock()
		got := agents
		mu.Unlock()
		if len(got) == 0 {
			t.Fatal("no authenticated request reached the registry")
		}
		for _, a := range got {
			if has := strings.HasPrefix(a, "custody-test"); has != (ua != "") {
				t.Errorf("user agent %q with RemoteOptions(%q)", a, ua)
			}
		}
	}
}

// A .yaml or .yml entry is a trust file: its keys keep their names and windows, beside
// plain PEM files in the same list.
func TestLoadTrustedKeysTrustFile(t *testing.T) {
	dir := t.TempDir()
	pem := writeKey(t, filepath.Join(dir, "ci.pub"))
	rotated := writeKey(t, filepath.Join(dir, "release-2025.pub"))
	trust := "keys:\n  - name: release-2025\n    publicKey: release-2025.pub\n    notAfter: 2026-01-01T00:00:00Z\n"
	for _, name := range []string{"trust.yaml", "trust.YML"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(trust), 0o600); err != nil {
				t.Fatal(err)
			}
			keys, err := daemon.LoadTrustedKeys(filepath.Join(dir, "ci.pub") + "," + path)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys[0].ID != pem.ID || !keys[0].NotAfter.IsZero() ||
				keys[1].Name != "release-2025" || keys[1].ID != rotated.ID ||
				!keys[1].NotAfter.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("keys = %+v", keys)
			}
		})
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("keys:\n  - name: x\n    publicKey: release-2025.pub\n    window: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.LoadTrustedKeys(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("strict trust file: err = %v, want an error naming %s", err, bad)
	}
}

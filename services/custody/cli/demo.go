package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// demoDpkgStatus is a small but real-shaped dpkg database.
const demoDpkgStatus = `Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 349
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: ca-certificates
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 384
Maintainer: Julien Cristau <jcristau@debian.org>
Architecture: all
Version: 20230311
Depends: openssl (>= 1.1.1)
Description: Common CA certificates
`

func runDemo(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "demo", "demo [--server URL] [--registry HOST:PORT]")
	server := serverFlag(fs)
	registry := fs.String("registry", "127.0.0.1:5000", "`HOST:PORT` of the registry `custody dev` serves")
	to := fs.String("to", "prod/demo:latest", "destination repository and tag, relative to --registry")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	img, err := demoImage()
	if err != nil {
		return fmt.Errorf("build the sample image: %w", err)
	}
	tag, err := name.NewTag(*registry+"/staging/demo:latest", name.Insecure)
	if err != nil {
		return usageErr("--registry %q: %v", *registry, err)
	}
	fmt.Fprintf(e.stdout, "==> pushing a sample image (dpkg database + a Go binary) to %s\n", tag)
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s (is `custody dev` running with --registry-addr %s?): %w", tag, *registry, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	ref := tag.Context().Digest(digest.String()).String()
	commit := sha1.Sum([]byte(digest.String()))
	fmt.Fprintf(e.stdout, "==> publishing its build event\n")
	if err := runEvent(ctx, e, []string{"build", "--image", ref, "--source-repo", "https://github.com/custody-dev/custody-demo",
		"--commit", hex.EncodeToString(commit[:]), "--source-ref", "refs/heads/main", "--invocation-id", "demo-" + time.Now().UTC().Format("20060102T150405Z"),
		"--server", *server, "--token", fs.bearer()}); err != nil {
		return err
	}
	dest := *registry + "/" + strings.TrimPrefix(*to, "/")
	fmt.Fprintf(e.stdout, "==> promoting %s to %s (the gate waits for the scan and attestations)\n", ref, dest)
	if err := runPromote(ctx, e, []string{ref, "--to", dest, "--wait", "--timeout", "120s", "--server", *server, "--token", fs.bearer()}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\n==> custody provenance %s\n", ref)
	return runProvenance(ctx, e, []string{ref, "--server", *server, "--token", fs.bearer()})
}

// demoImage is one layer: /var/lib/dpkg/status and /usr/local/bin/custody (this very
// program, a real Go binary with embedded build information).
func demoImage() (v1.Image, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"var/lib/dpkg/status", 0o644, []byte(demoDpkgStatus)},
		{"etc/os-release", 0o644, []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n")},
		{"usr/local/bin/custody", 0o755, bin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: mtime}
	cfg.Config.Entrypoint = []string{"/usr/local/bin/custody"}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/custody-dev/custody-demo"}
	return mutate.ConfigFile(img, cfg)
}

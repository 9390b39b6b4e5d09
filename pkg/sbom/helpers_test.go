package sbom_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// entry is one file, directory or symlink in a test layer.
type entry struct {
	name string
	body string
	mode int64
	typ  byte
	link string
}

func file(name, body string) entry {
	return entry{name: name, body: body, mode: 0o644, typ: tar.TypeReg}
}

func tarBytes(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Mode: mode, Typeflag: typ, Linkname: e.link}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatalf("tar body %s: %v", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerOf(t testing.TB, data []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	return l
}

func imageOf(t testing.TB, layers ...[]entry) v1.Image {
	t.Helper()
	img := empty.Image
	for _, es := range layers {
		var err error
		img, err = mutate.AppendLayers(img, layerOf(t, tarBytes(t, es...)))
		if err != nil {
			t.Fatalf("append layer: %v", err)
		}
	}
	return img
}

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

const dpkgStatus = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 341
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

Package: bash
Essential: yes
Status: install ok installed
Priority: required
Section: shells
Installed-Size: 7175
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Version: 5.2.15-2+b7
Description: GNU Bourne Again SHell

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12985
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u7
Description: GNU C Library: Shared libraries
`

// distroless images keep one status file per package in status.d.
const dpkgStatusD = `Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Installed-Size: 3150
Section: localization
Priority: required
Description: time zone and daylight-saving time data
`

const alpineOSRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
`

const apkInstalled = `C:Q1h7ZHf4Dyc5LUZXsd0lqtuaNgmDQ=
P:musl
V:1.2.5-r0
A:x86_64
S:411415
I:662528
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1711372181
c:c3e6ec9fa7c4ad0ae1f4d1e2e3f3a0e5ef2a2d2d
F:lib
R:ld-musl-x86_64.so.1

C:Q1Xk8MUlrSD4G4Iyf7zvOVsZPHL2c=
P:busybox
V:1.36.1-r29
A:x86_64
S:512543
I:1012224
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1717777151
c:ab09eb4bf4d30f7bd37ba1bbf75adb7a2bb6da0e
D:so:libc.musl-x86_64.so.1
F:bin
R:busybox
`

func debianLayer() []entry {
	return []entry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		file("etc/os-release", debianOSRelease),
		{name: "var/lib/dpkg/", typ: tar.TypeDir, mode: 0o755},
		file("var/lib/dpkg/status", dpkgStatus),
		{name: "var/lib/dpkg/status.d/", typ: tar.TypeDir, mode: 0o755},
		file("var/lib/dpkg/status.d/tzdata", dpkgStatusD),
	}
}

func alpineLayer() []entry {
	return []entry{
		file("etc/os-release", alpineOSRelease),
		file("lib/apk/db/installed", apkInstalled),
	}
}

var (
	goBinaryOnce sync.Once
	goBinary     []byte
	goBinaryErr  error
)

// goBinaryBytes builds testdata/gobin, a real Go program whose build information names its
// main module and github.com/CycloneDX/cyclonedx-go as a dependency.
func goBinaryBytes(t testing.TB) []byte {
	t.Helper()
	goBinaryOnce.Do(func() {
		gotool, err := exec.LookPath("go")
		if err != nil {
			goBinaryErr = err
			return
		}
		dir, err := os.MkdirTemp("", "sbom-gobin-")
		if err != nil {
			goBinaryErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "app")
		cmd := exec.Command(gotool, "build", "-trimpath", "-o", out, "./testdata/gobin")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			goBinaryErr = err
			t.Logf("go build: %s", b)
			return
		}
		goBinary, goBinaryErr = os.ReadFile(out)
	})
	if goBinaryErr != nil {
		t.Fatalf("build test Go binary: %v", goBinaryErr)
	}
	return goBinary
}

// component is what the tests compare of a CycloneDX component.
type component struct{ Name, Version, PURL string }

func decode(t testing.TB, doc []byte) *cyclonedx.BOM {
	t.Helper()
	var bom cyclonedx.BOM
	if err := cyclonedx.NewBOMDecoder(bytes.NewReader(doc), cyclonedx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("decode CycloneDX: %v\n%s", err, doc)
	}
	return &bom
}

func libraries(bom *cyclonedx.BOM) map[string]component {
	out := map[string]component{}
	if bom.Components == nil {
		return out
	}
	for _, c := range *bom.Components {
		if c.Type == cyclonedx.ComponentTypeOS {
			continue
		}
		out[c.Name] = component{Name: c.Name, Version: c.Version, PURL: c.PackageURL}
	}
	return out
}

func goVersion(testing.TB) string { return runtime.Version() }

func isErr(err, target error) bool { return errors.Is(err, target) }

func appendRaw(img v1.Image, l v1.Layer) (v1.Image, error) { return mutate.AppendLayers(img, l) }

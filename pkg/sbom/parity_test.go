package sbom_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/custody-dev/custody/pkg/sbom"
)

func jarBytes(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range map[string]string{
		"META-INF/MANIFEST.MF":                           "Manifest-Version: 1.0\r\nImplementation-Title: demo\r\nImplementation-Version: 1.2.3\r\n\r\n",
		"META-INF/maven/org.example/demo/pom.properties": "groupId=org.example\nartifactId=demo\nversion=1.2.3\n",
		"org/example/Demo.class":                         "\xca\xfe\xba\xbe",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const depsJSON = `{
  "runtimeTarget": {"name": ".NETCoreApp,Version=v8.0", "signature": ""},
  "targets": {
    ".NETCoreApp,Version=v8.0": {
      "MyApp/1.0.0": {"dependencies": {"Newtonsoft.Json": "13.0.3"}, "runtime": {"MyApp.dll": {}}},
      "Newtonsoft.Json/13.0.3": {"runtime": {"lib/net6.0/Newtonsoft.Json.dll": {"assemblyVersion": "13.0.0.0", "fileVersion": "13.0.3.27908"}}}
    }
  },
  "libraries": {
    "MyApp/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
    "Newtonsoft.Json/13.0.3": {"type": "package", "serviceable": true,
      "sha512": "sha512-HrC5BXdl00IP9zeV+0Z848QWPAoCr9P3bDEZguI+gkLcBKAOxix/tLEAAHC+UvDNPv4a2d18lOReHMOagPa+zQ==",
      "path": "newtonsoft.json/13.0.3", "hashPath": "newtonsoft.json.13.0.3.nupkg.sha512"}
  }
}`

// richLayers is an image with packages of many ecosystems, links, a hard link and a
// whiteout, in three layers.
func richLayers(t testing.TB) [][]entry {
	gobin := string(goBinaryBytes(t))
	return [][]entry{
		append(debianLayer(),
			entry{name: "usr/lib/os-release", body: debianOSRelease, typ: tar.TypeReg},
			file("usr/share/doc/bash/copyright", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n"),
			file("var/lib/dpkg/info/bash.list", "/bin/bash\n/usr/share/doc/bash/copyright\n"),
			file("var/lib/dpkg/info/bash.md5sums", "d41d8cd98f00b204e9800998ecf8427e  bin/bash\n"),
			entry{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
			file("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n"),
			file("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/RECORD", "requests/__init__.py,sha256=abc,10\n"),
			file("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/top_level.txt", "requests\n"),
			file("usr/lib/python3/dist-packages/requests/__init__.py", "# requests\n"),
			file("app/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.21","license":"MIT"}`),
			file("app/node_modules/left-pad/package.json", `{"name":"left-pad","version":"1.3.0","license":"WTFPL"}`),
		),
		{
			{name: "usr/local/bin/app", body: gobin, mode: 0o755},
			{name: "usr/bin/app-hard", typ: tar.TypeLink, link: "usr/local/bin/app"},
			{name: "opt/demo/demo-1.2.3.jar", body: string(jarBytes(t))},
			file("usr/local/bundle/specifications/rake-13.0.6.gemspec", "# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n  s.licenses = [\"MIT\".freeze]\nend\n"),
			file("srv/www/vendor/composer/installed.json", `{"packages":[{"name":"monolog/monolog","version":"2.9.1","type":"library","license":["MIT"]}]}`),
			file("srv/dotnet/MyApp.deps.json", depsJSON),
			file("lib/apk/db/installed", apkInstalled),
		},
		{
			file("app/node_modules/left-pad/.wh.package.json", ""),
		},
	}
}

// components maps each package's purl to the paths and layers (diff IDs) syft located it
// in, and its licenses.
func components(bom *cyclonedx.BOM) map[string][]string {
	out := map[string][]string{}
	if bom.Components == nil {
		return out
	}
	for _, c := range *bom.Components {
		if c.PackageURL == "" {
			continue
		}
		var layers []string
		if c.Properties != nil {
			for _, p := range *c.Properties {
				if strings.HasSuffix(p.Name, ":layerID") || strings.HasSuffix(p.Name, ":path") {
					layers = append(layers, p.Value)
				}
			}
		}
		if c.Licenses != nil {
			for _, l := range *c.Licenses {
				if l.License != nil {
					layers = append(layers, "license:"+l.License.ID+l.License.Name)
				}
				layers = append(layers, "expression:"+l.Expression)
			}
		}
		slices.Sort(layers)
		out[c.PackageURL] = slices.Compact(append(out[c.PackageURL], layers...))
	}
	return out
}

// stereoscopeScan catalogues img the way pkg/sbom did before imagefs: stereoscope reads
// the image, syft's own image source and resolver serve the catalogers.
func stereoscopeScan(t *testing.T, img v1.Image) map[string][]string {
	t.Helper()
	ctx := context.Background()
	simg := image.New(img, stereofile.NewTempDirGenerator("sbom-parity"), t.TempDir())
	if err := simg.Read(ctx); err != nil {
		t.Fatalf("stereoscope read: %v", err)
	}
	defer simg.Cleanup() //nolint:errcheck // test temp dir
	d, _ := img.Digest()
	src := stereoscopesource.New(simg, stereoscopesource.ImageConfig{Reference: d.String()})
	s, err := syft.CreateSBOM(ctx, src, syft.DefaultCreateSBOMConfig().WithoutFiles())
	if err != nil {
		t.Fatalf("syft: %v", err)
	}
	return components(cyclonedxhelpers.ToFormatModel(*s))
}

// The imagefs path finds the same packages, in the same layers, as syft over stereoscope.
func TestScanMatchesStereoscope(t *testing.T) {
	img := imageOf(t, richLayers(t)...)
	want := stereoscopeScan(t, img)
	// The fixture must exercise every ecosystem it carries, or the comparison proves little.
	for _, prefix := range []string{"pkg:deb/", "pkg:apk/", "pkg:golang/", "pkg:npm/", "pkg:pypi/", "pkg:maven/", "pkg:gem/", "pkg:composer/", "pkg:nuget/"} {
		found := false
		for p := range want {
			found = found || strings.HasPrefix(p, prefix)
		}
		if !found {
			t.Errorf("stereoscope scan of the fixture found no %s package: %v", prefix, want)
		}
	}
	if _, ok := want["pkg:npm/left-pad@1.3.0"]; ok {
		t.Error("fixture's whiteout did not hide left-pad")
	}
	res, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	got := components(decode(t, res.Document))
	t.Logf("%d packages: %v", len(got), got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages and layers (-stereoscope +imagefs):\n%s", diff)
	}
}

// debianImage is a real Debian image (a go-containerregistry tarball) that the
// repository's benchmark tooling leaves in .data; the test is skipped without it.
const debianImage = "../../.data/debian-image/image.tar"

// On a real Debian image too, the imagefs path finds what syft over stereoscope finds.
func TestScanMatchesStereoscopeOnDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a 55 MB image twice")
	}
	if _, err := os.Stat(debianImage); err != nil {
		t.Skipf("no Debian image at %s", debianImage)
	}
	img, err := tarball.ImageFromPath(debianImage, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := stereoscopeScan(t, img)
	if len(want) < 50 {
		t.Fatalf("stereoscope found only %d packages", len(want))
	}
	res, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	got := components(decode(t, res.Document))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-stereoscope +imagefs):\n%s", diff)
	}
	t.Logf("%d packages, OS %s", len(got), res.OS)
}

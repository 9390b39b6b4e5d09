package sbom_test

import (
	"archive/tar"
	"bytes"
	"compress/zlib"
	"context"
	"database/sql"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/custody-dev/custody/pkg/sbom"
)

// RPM header tags and types (rpm's lib/rpmtag.h) the fixture writes.
const (
	rpmTagHeaderImmutable = 63
	rpmTagName            = 1000
	rpmTagVersion         = 1001
	rpmTagRelease         = 1002
	rpmTagEpoch           = 1003
	rpmTagSize            = 1009
	rpmTagVendor          = 1011
	rpmTagLicense         = 1014
	rpmTagArch            = 1022
	rpmTagSourceRPM       = 1044
	rpmTagProvideName     = 1047
	rpmTagRequireName     = 1049

	rpmTypeInt32       = 4
	rpmTypeString      = 6
	rpmTypeBin         = 7
	rpmTypeStringArray = 8

	rpmEntryInfoSize = 16 // tag, type, offset, count: four big-endian 32-bit words
)

// rpmTagValue is one index entry of an RPM header and its data.
type rpmTagValue struct {
	tag   int32
	typ   uint32
	count uint32
	data  []byte
}

func rpmString(tag int32, s string) rpmTagValue {
	return rpmTagValue{tag: tag, typ: rpmTypeString, count: 1, data: append([]byte(s), 0)}
}

func rpmStrings(tag int32, ss ...string) rpmTagValue {
	var data []byte
	for _, s := range ss {
		data = append(append(data, s...), 0)
	}
	return rpmTagValue{tag: tag, typ: rpmTypeStringArray, count: uint32(len(ss)), data: data}
}

func rpmInt32(tag int32, v int32) rpmTagValue {
	return rpmTagValue{tag: tag, typ: rpmTypeInt32, count: 1, data: binary.BigEndian.AppendUint32(nil, uint32(v))}
}

func rpmEntryInfo(b []byte, tag int32, typ uint32, offset int32, count uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(tag))
	b = binary.BigEndian.AppendUint32(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(offset))
	return binary.BigEndian.AppendUint32(b, count)
}

// rpmHeaderBlob encodes tags as the header blob rpm keeps in its database (headerExport,
// without the lead magic): the index length and data length, the index entries, then the
// data. Like every header rpm installs, it is one immutable region: the first index entry
// (RPMTAG_HEADERIMMUTABLE, binary, 16 bytes) points at a trailer at the end of the data
// whose negative offset spans all the region's index entries.
func rpmHeaderBlob(tags ...rpmTagValue) []byte {
	var data, index []byte
	for _, tv := range tags {
		if tv.typ == rpmTypeInt32 {
			for len(data)%4 != 0 {
				data = append(data, 0)
			}
		}
		index = rpmEntryInfo(index, tv.tag, tv.typ, int32(len(data)), tv.count)
		data = append(data, tv.data...)
	}
	il := int32(len(tags) + 1)
	trailer := int32(len(data))
	data = rpmEntryInfo(data, rpmTagHeaderImmutable, rpmTypeBin, -il*rpmEntryInfoSize, rpmEntryInfoSize)

	blob := binary.BigEndian.AppendUint32(nil, uint32(il))
	blob = binary.BigEndian.AppendUint32(blob, uint32(len(data)))
	blob = rpmEntryInfo(blob, rpmTagHeaderImmutable, rpmTypeBin, trailer, rpmEntryInfoSize)
	blob = append(blob, index...)
	return append(blob, data...)
}

// rpmPackage is an installed package as the fixture's rpm database records it.
type rpmPackage struct {
	name, version, release, arch, license, vendor, sourceRPM string
	epoch                                                    *int32
	size                                                     int32
	provides, requires                                       []string
}

func (p rpmPackage) header() []byte {
	tags := []rpmTagValue{
		rpmString(rpmTagName, p.name),
		rpmString(rpmTagVersion, p.version),
		rpmString(rpmTagRelease, p.release),
	}
	if p.epoch != nil {
		tags = append(tags, rpmInt32(rpmTagEpoch, *p.epoch))
	}
	tags = append(tags,
		rpmInt32(rpmTagSize, p.size),
		rpmString(rpmTagVendor, p.vendor),
		rpmString(rpmTagLicense, p.license),
		rpmString(rpmTagArch, p.arch),
		rpmString(rpmTagSourceRPM, p.sourceRPM),
		rpmStrings(rpmTagProvideName, p.provides...),
		rpmStrings(rpmTagRequireName, p.requires...),
	)
	return rpmHeaderBlob(tags...)
}

// elVersion is the version syft reports for an RPM: [epoch:]version-release.
func (p rpmPackage) elVersion() string {
	v := p.version + "-" + p.release
	if p.epoch != nil {
		v = strconv.Itoa(int(*p.epoch)) + ":" + v
	}
	return v
}

// rpmdbSQLite is an rpmdb.sqlite as rpm 4.16+ writes it (RHEL 9, Fedora, Amazon Linux
// 2023): a Packages table holding one header blob per installed package.
func rpmdbSQLite(t testing.TB, pkgs ...rpmPackage) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)`,
		`CREATE TABLE 'Name' (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("rpmdb schema: %v", err)
		}
	}
	for _, pkg := range pkgs {
		res, err := db.Exec(`INSERT INTO Packages (blob) VALUES (?)`, pkg.header())
		if err != nil {
			t.Fatalf("insert %s: %v", pkg.name, err)
		}
		hnum, err := res.LastInsertId()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO Name (key, hnum, idx) VALUES (?, ?, 0)`, pkg.name, hnum); err != nil {
			t.Fatalf("index %s: %v", pkg.name, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close rpmdb: %v", err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const rhelOSRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
`

func int32p(v int32) *int32 { return &v }

var (
	rpmBash = rpmPackage{
		name: "bash", version: "5.1.8", release: "9.el9", arch: "x86_64", license: "GPL-3.0-or-later",
		vendor: "Red Hat, Inc.", sourceRPM: "bash-5.1.8-9.el9.src.rpm", size: 7738634,
		provides: []string{"bash", "/bin/sh"}, requires: []string{"libc.so.6()(64bit)"},
	}
	rpmGlibc = rpmPackage{
		name: "glibc", version: "2.34", release: "100.el9_4.2", arch: "x86_64", license: "LGPL-2.1-or-later AND GPL-2.0-or-later",
		vendor: "Red Hat, Inc.", sourceRPM: "glibc-2.34-100.el9_4.2.src.rpm", size: 6357364,
		provides: []string{"glibc", "libc.so.6()(64bit)"}, requires: []string{"basesystem"},
	}
	rpmOpenSSL = rpmPackage{
		name: "openssl-libs", version: "3.0.7", release: "27.el9", arch: "x86_64", license: "Apache-2.0",
		vendor: "Red Hat, Inc.", sourceRPM: "openssl-3.0.7-27.el9.src.rpm", size: 6410184, epoch: int32p(1),
		provides: []string{"openssl-libs", "libssl.so.3()(64bit)"}, requires: []string{"libc.so.6()(64bit)"},
	}
)

// rpmLayers is a RHEL 9 image: a base layer with two packages, and a layer that installs a
// third, rewriting the rpm database as dnf does.
func rpmLayers(t testing.TB) [][]entry {
	return [][]entry{
		{
			{name: "etc/", typ: tar.TypeDir, mode: 0o755},
			file("etc/os-release", rhelOSRelease),
			{name: "var/lib/rpm/", typ: tar.TypeDir, mode: 0o755},
			file("var/lib/rpm/rpmdb.sqlite", string(rpmdbSQLite(t, rpmBash, rpmGlibc))),
		},
		{
			file("var/lib/rpm/rpmdb.sqlite", string(rpmdbSQLite(t, rpmBash, rpmGlibc, rpmOpenSSL))),
		},
	}
}

// componentByPURL returns the component whose purl starts with prefix.
func componentByPURL(bom *cyclonedx.BOM, prefix string) *cyclonedx.Component {
	if bom.Components == nil {
		return nil
	}
	for i, c := range *bom.Components {
		if strings.HasPrefix(c.PackageURL, prefix) {
			return &(*bom.Components)[i]
		}
	}
	return nil
}

func hasProperty(c *cyclonedx.Component, suffix, value string) bool {
	if c.Properties == nil {
		return false
	}
	for _, p := range *c.Properties {
		if strings.HasSuffix(p.Name, suffix) && p.Value == value {
			return true
		}
	}
	return false
}

// licenseTexts lists a component's licenses as SPDX IDs, names and expressions.
func licenseTexts(c *cyclonedx.Component) []string {
	var out []string
	if c.Licenses == nil {
		return out
	}
	for _, l := range *c.Licenses {
		if l.License != nil {
			out = append(out, l.License.ID+l.License.Name)
		}
		if l.Expression != "" {
			out = append(out, l.Expression)
		}
	}
	return out
}

func diffID(t testing.TB, img v1.Image, i int) string {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.RootFS.DiffIDs[i].String()
}

// Scan finds the packages of a RHEL 9 rpmdb.sqlite, with RPM purls, epochs, licenses and
// the layer that last wrote the database, as syft over stereoscope does.
func TestScanFindsRPMPackages(t *testing.T) {
	img := imageOf(t, rpmLayers(t)...)
	res, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	bom := decode(t, res.Document)
	if !strings.HasPrefix(res.OS, "rhel 9") {
		t.Errorf("OS = %q, want rhel 9.4", res.OS)
	}
	t.Logf("OS %s, packages: %v", res.OS, components(bom))
	top := diffID(t, img, 1)
	for _, p := range []rpmPackage{rpmBash, rpmGlibc, rpmOpenSSL} {
		prefix := "pkg:rpm/redhat/" + p.name + "@" + p.version + "-" + p.release + "?"
		c := componentByPURL(bom, prefix)
		if c == nil {
			t.Errorf("no component with purl %s...: %v", prefix, components(bom))
			continue
		}
		for _, q := range []string{"arch=" + p.arch, "distro=rhel-9.4", "upstream=" + p.sourceRPM} {
			if !strings.Contains(c.PackageURL, q) {
				t.Errorf("%s: purl lacks %s", c.PackageURL, q)
			}
		}
		if p.epoch != nil && !strings.Contains(c.PackageURL, "epoch="+strconv.Itoa(int(*p.epoch))) {
			t.Errorf("%s: purl lacks the epoch", c.PackageURL)
		}
		if c.Name != p.name || c.Version != p.elVersion() {
			t.Errorf("%s: name %q version %q, want %q %q", c.PackageURL, c.Name, c.Version, p.name, p.elVersion())
		}
		if lic := licenseTexts(c); len(lic) != 1 || lic[0] != p.license {
			t.Errorf("%s: licenses %q, want %q", p.name, lic, p.license)
		}
		if !hasProperty(c, ":layerID", top) || !hasProperty(c, ":path", "/var/lib/rpm/rpmdb.sqlite") {
			t.Errorf("%s: not located at /var/lib/rpm/rpmdb.sqlite in the top layer %s: %v", p.name, top, components(bom)[c.PackageURL])
		}
	}
	want := stereoscopeScan(t, img)
	if diff := cmp.Diff(want, components(bom)); diff != "" {
		t.Errorf("packages and layers (-stereoscope +imagefs):\n%s", diff)
	}
}

const fedoraOSRelease = `NAME="Fedora Linux"
VERSION="40 (Container Image)"
ID=fedora
VERSION_ID=40
PRETTY_NAME="Fedora Linux 40 (Container Image)"
CPE_NAME="cpe:/o:fedoraproject:fedora:40"
`

// Fedora keeps the rpm database in /usr/lib/sysimage/rpm, with /var/lib/rpm a symbolic
// link to it; the package is found once, at the real path, as syft over stereoscope finds
// it.
func TestScanFindsRPMPackagesInSysimage(t *testing.T) {
	coreutils := rpmPackage{
		name: "coreutils", version: "9.4", release: "6.fc40", arch: "x86_64", license: "GPL-3.0-or-later",
		vendor: "Fedora Project", sourceRPM: "coreutils-9.4-6.fc40.src.rpm", size: 5817236,
		provides: []string{"coreutils"}, requires: []string{"libc.so.6()(64bit)"},
	}
	img := imageOf(t, []entry{
		file("etc/os-release", fedoraOSRelease),
		{name: "usr/lib/sysimage/rpm/", typ: tar.TypeDir, mode: 0o755},
		file("usr/lib/sysimage/rpm/rpmdb.sqlite", string(rpmdbSQLite(t, coreutils))),
		{name: "var/lib/", typ: tar.TypeDir, mode: 0o755},
		{name: "var/lib/rpm", typ: tar.TypeSymlink, link: "../../usr/lib/sysimage/rpm"},
	})
	res, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	got := components(decode(t, res.Document))
	t.Logf("OS %s, packages: %v", res.OS, got)
	want := stereoscopeScan(t, img)
	var rpms []string
	for p := range want {
		if strings.HasPrefix(p, "pkg:rpm/fedora/coreutils@9.4-6.fc40?") {
			rpms = append(rpms, p)
		}
	}
	if len(rpms) != 1 {
		t.Fatalf("stereoscope found coreutils %d times, want once: %v", len(rpms), want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages and layers (-stereoscope +imagefs):\n%s", diff)
	}
}

// elfWithSection is a minimal 64-bit little-endian ELF position-independent executable
// (ET_DYN, as rustc links by default) with no program headers and three sections: the null
// section, name holding data, and the section-name string table.
func elfWithSection(name string, data []byte) []byte {
	const ehsize, shentsize = 64, 64
	shstrtab := []byte("\x00" + name + "\x00.shstrtab\x00")
	nameOff, shstrtabOff := uint32(1), uint32(1+len(name)+1)

	var b []byte
	b = append(b, 0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT), byte(elf.ELFOSABI_NONE))
	b = append(b, make([]byte, 8)...) // ABI version and padding
	le := binary.LittleEndian
	dataOff := uint64(ehsize)
	strOff := dataOff + uint64(len(data))
	shoff := (strOff + uint64(len(shstrtab)) + 7) &^ 7
	b = le.AppendUint16(b, uint16(elf.ET_DYN))
	b = le.AppendUint16(b, uint16(elf.EM_X86_64))
	b = le.AppendUint32(b, uint32(elf.EV_CURRENT))
	b = le.AppendUint64(b, 0) // entry
	b = le.AppendUint64(b, 0) // program header offset
	b = le.AppendUint64(b, shoff)
	b = le.AppendUint32(b, 0) // flags
	b = le.AppendUint16(b, ehsize)
	b = le.AppendUint16(b, 56) // program header entry size
	b = le.AppendUint16(b, 0)  // program header count
	b = le.AppendUint16(b, shentsize)
	b = le.AppendUint16(b, 3) // section count
	b = le.AppendUint16(b, 2) // section name string table index
	b = append(b, data...)
	b = append(b, shstrtab...)
	b = append(b, make([]byte, int(shoff)-len(b))...)

	section := func(name uint32, typ elf.SectionType, off, size uint64) {
		b = le.AppendUint32(b, name)
		b = le.AppendUint32(b, uint32(typ))
		b = le.AppendUint64(b, 0) // flags
		b = le.AppendUint64(b, 0) // address
		b = le.AppendUint64(b, off)
		b = le.AppendUint64(b, size)
		b = le.AppendUint32(b, 0) // link
		b = le.AppendUint32(b, 0) // info
		b = le.AppendUint64(b, 1) // alignment
		b = le.AppendUint64(b, 0) // entry size
	}
	section(0, elf.SHT_NULL, 0, 0)
	section(nameOff, elf.SHT_PROGBITS, dataOff, uint64(len(data)))
	section(shstrtabOff, elf.SHT_STRTAB, strOff, uint64(len(shstrtab)))
	return b
}

// auditPackage is one entry of cargo-auditable's dependency list (rust-audit's
// auditable-serde VersionInfo): dependencies are indexes into the list.
type auditPackage struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Source       string `json:"source"`
	Kind         string `json:"kind,omitempty"`
	Dependencies []int  `json:"dependencies,omitempty"`
	Root         bool   `json:"root,omitempty"`
}

// cargoAuditableBinary is an executable as `cargo auditable build` leaves it: the
// dependency tree as zlib-compressed JSON in a .dep-v0 section.
func cargoAuditableBinary(t testing.TB, pkgs ...auditPackage) []byte {
	t.Helper()
	doc, err := json.Marshal(map[string]any{"packages": pkgs})
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(doc); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	bin := elfWithSection(".dep-v0", z.Bytes())
	// The fixture must be an ELF file Go reads and whose section holds the document.
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("fixture ELF: %v", err)
	}
	if s := f.Section(".dep-v0"); s == nil {
		t.Fatal("fixture ELF has no .dep-v0 section")
	}
	return bin
}

// The crates compiled into the fixture binary; cc is a build dependency, which syft leaves
// out.
var auditPackages = []auditPackage{
	{Name: "serde", Version: "1.0.200", Source: "crates.io"},
	{Name: "itoa", Version: "1.0.11", Source: "crates.io"},
	{Name: "cc", Version: "1.0.90", Source: "crates.io", Kind: "build"},
	{Name: "myapp", Version: "0.1.0", Source: "local", Root: true, Dependencies: []int{0, 1, 2}},
}

// A Cargo.lock next to the binary names a crate the binary does not contain. Its source is
// a git repository so that the lock-file cataloguer would give it a purl.
const cargoLock = `# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 3

[[package]]
name = "rand"
version = "0.8.5"
source = "git+https://example.invalid/rand.git#937320cbfeebd4352a23086d9c6e68f067f74644"
`

func rustLayers(t testing.TB) [][]entry {
	return [][]entry{
		{
			file("etc/os-release", debianOSRelease),
			{name: "usr/local/bin/myapp", body: string(cargoAuditableBinary(t, auditPackages...)), mode: 0o755},
			// An executable without the section is not a Rust binary to syft.
			{name: "usr/local/bin/plain", body: string(elfWithSection(".comment", []byte("GCC: 12\x00"))), mode: 0o755},
			file("src/myapp/Cargo.lock", cargoLock),
		},
	}
}

// Scan finds the crates cargo-auditable recorded in a binary, with pkg:cargo purls, and,
// like syft's own image scans, does not read Cargo.lock files (syft's lock-file cataloguer
// runs for directories, not images).
func TestScanFindsRustCargoAuditableCrates(t *testing.T) {
	img := imageOf(t, rustLayers(t)...)
	res, err := sbom.Scan(context.Background(), img, sbom.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	bom := decode(t, res.Document)
	t.Logf("packages: %v", components(bom))
	layer := diffID(t, img, 0)
	for _, p := range auditPackages {
		purl := "pkg:cargo/" + p.Name + "@" + p.Version
		c := componentByPURL(bom, purl)
		if p.Kind == "build" {
			if c != nil {
				t.Errorf("build dependency %s reported", purl)
			}
			continue
		}
		if c == nil {
			t.Errorf("no component %s: %v", purl, components(bom))
			continue
		}
		if c.PackageURL != purl || c.Name != p.Name || c.Version != p.Version {
			t.Errorf("component %s %s %s, want %s", c.PackageURL, c.Name, c.Version, purl)
		}
		if !hasProperty(c, ":layerID", layer) || !hasProperty(c, ":path", "/usr/local/bin/myapp") {
			t.Errorf("%s: not located at /usr/local/bin/myapp in layer %s: %v", purl, layer, components(bom)[purl])
		}
	}
	if c := componentByPURL(bom, "pkg:cargo/rand@"); c != nil {
		t.Errorf("image scan reported the Cargo.lock crate %s", c.PackageURL)
	}
	want := stereoscopeScan(t, img)
	if diff := cmp.Diff(want, components(bom)); diff != "" {
		t.Errorf("packages and layers (-stereoscope +imagefs):\n%s", diff)
	}
}

// The fixture's Cargo.lock is one syft reads when its lock-file cataloguer is selected,
// so its absence from image scans is syft's choice of cataloguers, not a broken fixture.
func TestCargoLockFixtureIsReadableWhenSelected(t *testing.T) {
	ctx := context.Background()
	img := imageOf(t, rustLayers(t)...)
	simg := image.New(img, stereofile.NewTempDirGenerator("sbom-cargo"), t.TempDir())
	if err := simg.Read(ctx); err != nil {
		t.Fatalf("stereoscope read: %v", err)
	}
	defer simg.Cleanup() //nolint:errcheck // test temp dir
	d, _ := img.Digest()
	src := stereoscopesource.New(simg, stereoscopesource.ImageConfig{Reference: d.String()})
	cfg := syft.DefaultCreateSBOMConfig().WithoutFiles().
		WithCatalogerSelection(cataloging.NewSelectionRequest().WithAdditions("rust-cargo-lock-cataloger"))
	s, err := syft.CreateSBOM(ctx, src, cfg)
	if err != nil {
		t.Fatalf("syft: %v", err)
	}
	got := components(cyclonedxhelpers.ToFormatModel(*s))
	found := false
	for p := range got {
		found = found || strings.HasPrefix(p, "pkg:cargo/rand@0.8.5")
	}
	if !found {
		t.Errorf("rust-cargo-lock-cataloger found no pkg:cargo/rand@0.8.5 in the fixture: %v", got)
	}
}

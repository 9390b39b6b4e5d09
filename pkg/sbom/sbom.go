package sbom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/format/spdxjson"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/uuid"

	"github.com/custody-dev/custody/pkg/imagefs"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// MediaType is the media type of the documents Scan produces.
const MediaType = "application/vnd.cyclonedx+json"

// syftModule and syftVersionPinned name the cataloguer; the version is read from the
// binary's build information when it is there.
const (
	syftModule        = "github.com/anchore/syft"
	syftVersionPinned = "v1.54.1"
)

// ErrLimitExceeded is returned when an image is larger than a scan limit allows: too many
// layers, a layer or the image too large uncompressed, or too many tar entries in a layer.
// Raise the limit with an Option or refuse the image.
var ErrLimitExceeded = imagefs.ErrLimitExceeded

// ErrFetch is returned when reading the image from its source failed: listing its layers,
// reading its config, or reading a layer's stream. The cause, which the error wraps, may
// be transient (a network or registry error) or not (corrupt data); inspect it with
// errors.As to decide whether to retry.
var ErrFetch = imagefs.ErrFetch

// ErrInvalidImage is returned when the image's manifest, config or layers cannot be read
// or are not a container image syft understands: a corrupt or hostile layer (see
// imagefs.ErrInvalidImage), or one whose bytes do not match its digest.
var ErrInvalidImage = imagefs.ErrInvalidImage

// Result is the outcome of a scan.
type Result struct {
	// Document is the CycloneDX JSON SBOM (media type MediaType).
	Document []byte
	// Digest is the image manifest digest the SBOM describes.
	Digest string
	// Packages counts the packages found.
	Packages int
	// OS is the operating system found in the image ("debian 12"), or empty.
	OS string
	// Status is COMPLETE when an operating system or any package was recognised, and
	// INCOMPLETE when every layer was read but nothing was: that is not a clean bill of
	// health.
	Status eventsv1.ScanStatus
	// Scanner names the cataloguer and its version ("syft@v1.54.1").
	Scanner string

	syft *syftsbom.SBOM
}

// SPDXVersion is the SPDX version SPDX writes.
const SPDXVersion = "2.3"

// SPDX encodes the same inventory as an SPDX 2.3 JSON document. Unlike Document it is
// not deterministic: SPDX requires a creation time and a unique document namespace.
func (r *Result) SPDX() ([]byte, error) {
	if r.syft == nil {
		return nil, errors.New("sbom: no inventory to encode")
	}
	cfg := spdxjson.DefaultEncoderConfig()
	cfg.Version = SPDXVersion
	enc, err := spdxjson.NewFormatEncoderWithConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("sbom: SPDX encoder: %w", err)
	}
	var buf bytes.Buffer
	if err := enc.Encode(&buf, *r.syft); err != nil {
		return nil, fmt.Errorf("sbom: encode SPDX for %s: %w", r.Digest, err)
	}
	return buf.Bytes(), nil
}

// limits are the bounds Scan puts on an untrusted image.
type limits struct {
	maxLayers    int
	maxLayerSize int64
	maxImageSize int64
	maxEntries   int
}

type options struct {
	lim         limits
	tempDir     string
	reference   string
	parallelism int
	observer    imagefs.Observer
	finalView   []func(*imagefs.FS)
}

// Option configures Scan.
type Option func(*options) error

// WithMaxLayers bounds the number of layers. Default 256.
func WithMaxLayers(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sbom: max layers %d must be positive", n)
		}
		o.lim.maxLayers = n
		return nil
	}
}

// WithMaxLayerSize bounds one layer's uncompressed size in bytes. Default 4 GiB.
func WithMaxLayerSize(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sbom: max layer size %d must be positive", n)
		}
		o.lim.maxLayerSize = n
		return nil
	}
}

// WithMaxImageSize bounds the sum of the layers' uncompressed sizes in bytes, which is
// also the temporary disk space a scan uses. Default 16 GiB.
func WithMaxImageSize(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sbom: max image size %d must be positive", n)
		}
		o.lim.maxImageSize = n
		return nil
	}
}

// WithMaxEntries bounds the number of tar entries in one layer, which bounds the memory
// the file index uses. Default 1,000,000.
func WithMaxEntries(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sbom: max entries %d must be positive", n)
		}
		o.lim.maxEntries = n
		return nil
	}
}

// WithTempDir sets the directory in which a scan keeps the content of the files syft's
// cataloguers read (one spool file, removed before Scan returns). Default: os.TempDir().
func WithTempDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("sbom: empty temp dir")
		}
		o.tempDir = dir
		return nil
	}
}

// WithReference names the image in the SBOM's metadata component
// (registry/repository[@digest]). Default: the component is named by the digest alone.
func WithReference(ref string) Option {
	return func(o *options) error {
		if _, err := name.ParseReference(ref); err != nil {
			return fmt.Errorf("sbom: image reference %q: %w", ref, err)
		}
		o.reference = ref
		return nil
	}
}

// WithObserver passes the content of every regular file of every layer, including files
// a later layer deletes, to obs while the layers are read (see imagefs.Observer).
func WithObserver(obs imagefs.Observer) Option {
	return func(o *options) error {
		if obs == nil {
			return errors.New("sbom: nil observer")
		}
		o.observer = obs
		return nil
	}
}

// WithFinalView calls fn with the image's filesystem once every layer has been read and
// squashed, before cataloguing: every Observer has been closed by then, and fn can ask
// which files the final image still holds (a file a later layer deleted or replaced is
// no longer there, or comes from another layer). fn must not keep fsys.
func WithFinalView(fn func(fsys *imagefs.FS)) Option {
	return func(o *options) error {
		if fn == nil {
			return errors.New("sbom: nil final view function")
		}
		o.finalView = append(o.finalView, fn)
		return nil
	}
}

// WithParallelism sets how many cataloguers run at once. Default: the number of CPUs.
func WithParallelism(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sbom: parallelism %d must be positive", n)
		}
		o.parallelism = n
		return nil
	}
}

// Cataloguer scans images, sharing what every scan needs: syft's license scanner, whose
// construction costs about 0.2 s of CPU, is built once and reused. It is safe for
// concurrent use.
type Cataloguer struct {
	base []Option

	once     sync.Once
	licenses context.Context // carries the license scanner as a context value
	config   *syft.CreateSBOMConfig
	keep     *keepSet
	initErr  error
}

// NewCataloguer returns a Cataloguer whose scans apply opts (before any given to Scan).
func NewCataloguer(opts ...Option) (*Cataloguer, error) {
	if err := checkSQLiteDriver(); err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Cataloguer{base: opts}, nil
}

func (c *Cataloguer) licenseContext() (context.Context, error) {
	c.once.Do(func() {
		// Building the default configuration compiles syft's binary classifiers; CreateSBOM
		// only reads it, so one is shared by every scan.
		c.config = syft.DefaultCreateSBOMConfig().WithTool("syft", syftVersion()).WithoutFiles()
		c.licenses, c.initErr = syft.SetContextLicenseScanner(context.Background(), c.config.Licenses)
		if c.initErr != nil {
			return
		}
		c.keep, c.initErr = recordQueries(c.licenses, c.config)
	})
	return c.licenses, c.initErr
}

// valuesFrom is ctx with fallback values: a scan's own context (deadline, cancellation,
// values) first, then the cataloguer's shared license scanner.
type valuesFrom struct {
	context.Context
	fallback context.Context
}

func (v valuesFrom) Value(key any) any {
	if val := v.Context.Value(key); val != nil {
		return val
	}
	return v.fallback.Value(key)
}

// Scan catalogues the software in img with a one-off Cataloguer. Services that scan
// repeatedly should keep a Cataloguer instead.
func Scan(ctx context.Context, img v1.Image, opts ...Option) (*Result, error) {
	c, err := NewCataloguer()
	if err != nil {
		return nil, err
	}
	return c.Scan(ctx, img, opts...)
}

// Scan catalogues the software in img and returns a CycloneDX JSON SBOM of it. img
// should have been pulled by digest; the document names the manifest digest img reports.
func (c *Cataloguer) Scan(ctx context.Context, img v1.Image, opts ...Option) (res *Result, err error) {
	if img == nil {
		return nil, fmt.Errorf("sbom: nil image: %w", ErrInvalidImage)
	}
	o := options{lim: limits{maxLayers: 256, maxLayerSize: 4 << 30, maxImageSize: 16 << 30, maxEntries: 1_000_000}}
	for _, opt := range append(append([]Option{}, c.base...), opts...) {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	lic, err := c.licenseContext()
	if err != nil {
		return nil, fmt.Errorf("sbom: license scanner: %w", err)
	}
	ctx = valuesFrom{Context: ctx, fallback: lic}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("sbom: cataloguing failed unexpectedly (%v): %w", r, ErrInvalidImage)
		}
	}()

	dgst, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("sbom: image digest: %w: %w", ErrInvalidImage, err)
	}
	digest := dgst.String()
	if _, err := img.ConfigFile(); err != nil {
		return nil, fmt.Errorf("sbom: image %s: read config: %w: %w", digest, ErrFetch, err)
	}

	iopts := []imagefs.Option{
		imagefs.WithMaxLayers(o.lim.maxLayers), imagefs.WithMaxLayerSize(o.lim.maxLayerSize),
		imagefs.WithMaxImageSize(o.lim.maxImageSize), imagefs.WithMaxEntries(o.lim.maxEntries),
		imagefs.WithKeep(c.keep.keep),
	}
	if o.tempDir != "" {
		iopts = append(iopts, imagefs.WithTempDir(o.tempDir))
	}
	if o.observer != nil {
		iopts = append(iopts, imagefs.WithObserver(o.observer))
	}
	fsys, err := imagefs.Read(ctx, img, iopts...)
	if err != nil {
		if errors.Is(err, ErrLimitExceeded) || errors.Is(err, ErrFetch) || errors.Is(err, ErrInvalidImage) || ctx.Err() != nil {
			return nil, fmt.Errorf("sbom: read image %s: %w", digest, err)
		}
		return nil, fmt.Errorf("sbom: read image %s: %w: %w", digest, ErrInvalidImage, err)
	}
	defer fsys.Close()
	for _, fn := range o.finalView {
		fn(fsys)
	}

	ref := o.reference
	if ref == "" {
		ref = digest
	}
	src, err := newImageSource(img, fsys, ref)
	if err != nil {
		return nil, fmt.Errorf("sbom: image %s: %w", digest, err)
	}
	cfg := c.config
	if o.parallelism > 0 {
		own := *c.config
		cfg = own.WithParallelism(o.parallelism)
	}
	s, err := syft.CreateSBOM(ctx, src, cfg)
	if err != nil {
		return nil, fmt.Errorf("sbom: catalogue image %s: %w", digest, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sbom: catalogue image %s: %w", digest, err)
	}

	scanner := Scanner()
	bom := cyclonedxhelpers.ToFormatModel(*s)
	makeDeterministic(bom, digest, scanner, o.reference)
	summariseLicenses(bom)
	var buf bytes.Buffer
	enc := cyclonedx.NewBOMEncoder(&buf, cyclonedx.BOMFileFormatJSON)
	if err := enc.EncodeVersion(bom, cyclonedx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("sbom: encode CycloneDX for %s: %w", digest, err)
	}

	res = &Result{
		syft:     s,
		Document: buf.Bytes(),
		Digest:   digest,
		Packages: s.Artifacts.Packages.PackageCount(),
		OS:       osName(s),
		Scanner:  scanner,
		Status:   eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE,
	}
	if res.OS != "" || res.Packages > 0 {
		res.Status = eventsv1.ScanStatus_SCAN_STATUS_COMPLETE
	}
	return res, nil
}

// makeDeterministic replaces what syft makes up per run (a random serial number, the
// current time) with values derived from the image, and names the image in the
// metadata component.
func makeDeterministic(bom *cyclonedx.BOM, digest, scanner, reference string) {
	bom.SerialNumber = uuid.NewSHA1(uuid.NameSpaceURL, []byte("custody:sbom:"+scanner+":"+digest)).URN()
	if bom.Metadata == nil {
		bom.Metadata = &cyclonedx.Metadata{}
	}
	bom.Metadata.Timestamp = ""
	comp := bom.Metadata.Component
	if comp == nil {
		comp = &cyclonedx.Component{BOMRef: "image:" + digest}
		bom.Metadata.Component = comp
	}
	comp.Type = cyclonedx.ComponentTypeContainer
	comp.Name = digest
	comp.Version = digest
	hex := strings.TrimPrefix(digest, "sha256:")
	if hex != digest {
		comp.Hashes = &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: hex}}
	}
	if reference == "" {
		return
	}
	ref, err := name.ParseReference(reference)
	if err != nil {
		return
	}
	comp.Name = ref.Context().Name()
	comp.PackageURL = ImagePURL(ref.Context(), digest)
}

// ImagePURL is the pkg:oci package URL of the image digest in repo, as the purl spec
// defines it (the digest is the version) and as the SBOM's metadata component names it.
func ImagePURL(repo name.Repository, digest string) string {
	last := repo.RepositoryStr()
	if i := strings.LastIndexByte(last, '/'); i >= 0 {
		last = last[i+1:]
	}
	return "pkg:oci/" + last + "@" + strings.Replace(digest, ":", "%3A", 1) + "?repository_url=" + repo.Name()
}

func osName(s *syftsbom.SBOM) string {
	d := s.Artifacts.LinuxDistribution
	if d == nil {
		return ""
	}
	switch {
	case d.ID != "" && d.VersionID != "":
		return d.ID + " " + d.VersionID
	case d.ID != "":
		return d.ID
	default:
		return d.PrettyName
	}
}

// Scanner names the cataloguer Scan uses and its version ("syft@v1.54.1"), as Result.Scanner
// and the SBOM's metadata name it.
func Scanner() string { return "syft@" + syftVersion() }

// syftVersion is the linked syft's module version, read from the build information.
func syftVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == syftModule && d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return syftVersionPinned
}

// LicenseSummaryProperty prefixes the SBOM metadata properties that count packages per
// license ("custody:license-summary:MIT" = "12"); packages without a license count toward
// "NOASSERTION".
const LicenseSummaryProperty = "custody:license-summary:"

// summariseLicenses adds the per-license package counts to the document's metadata, sorted
// by license.
func summariseLicenses(bom *cyclonedx.BOM) {
	if bom.Components == nil {
		return
	}
	counts := map[string]int{}
	for _, c := range *bom.Components {
		if c.Type == cyclonedx.ComponentTypeOS || c.Type == cyclonedx.ComponentTypeFile {
			continue
		}
		seen := map[string]bool{}
		if c.Licenses != nil {
			for _, l := range *c.Licenses {
				name := l.Expression
				if name == "" && l.License != nil {
					name = l.License.ID
					if name == "" {
						name = l.License.Name
					}
				}
				if name != "" && !seen[name] {
					seen[name] = true
					counts[name]++
				}
			}
		}
		if len(seen) == 0 {
			counts["NOASSERTION"]++
		}
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	slices.Sort(names)
	var props []cyclonedx.Property
	if bom.Metadata.Properties != nil {
		props = *bom.Metadata.Properties
	}
	for _, n := range names {
		props = append(props, cyclonedx.Property{Name: LicenseSummaryProperty + n, Value: strconv.Itoa(counts[n])})
	}
	if len(props) > 0 {
		bom.Metadata.Properties = &props
	}
}

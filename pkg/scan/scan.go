package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/custody-dev/custody/pkg/imagefs"
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// ErrImage marks a failure of the image itself (unreadable, hostile, over a limit, not
// matching its digest): scanning it again cannot help, and the scan is reported FAILED.
// Other errors (the registry unreachable, the context ended) are worth retrying.
var ErrImage = errors.New("image cannot be scanned")

// Scanner scans images. It is safe for concurrent use.
type Scanner struct {
	cat *sbom.Cataloguer
	o   options
}

type options struct {
	sbom         []sbom.Option
	secrets      []secrets.Option
	vulnDB       vuln.Describer
	vex          []*vuln.VEXDocument
	version      string
	maxPlatforms int
	fetchAtFault func(error) bool
	now          func() time.Time
}

// Option configures a Scanner.
type Option func(*options) error

// WithSBOMOptions passes options to the cataloguer (limits, temporary directory,
// parallelism).
func WithSBOMOptions(opts ...sbom.Option) Option {
	return func(o *options) error {
		o.sbom = append(o.sbom, opts...)
		return nil
	}
}

// WithMaxPlatforms bounds the platform manifests of an image index that are scanned;
// an index with more is refused. Default 64.
func WithMaxPlatforms(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("scan: max platforms %d must be 1-1024", n)
		}
		o.maxPlatforms = n
		return nil
	}
}

// WithFetchClassifier sets how a failed read from the image's source is judged: atFault
// reports whether the error is the image's fault (missing, corrupt: a FAILED scan) rather
// than the source's (unreachable, refusing for now: an error worth retrying). Default:
// every read error is worth retrying.
func WithFetchClassifier(atFault func(error) bool) Option {
	return func(o *options) error {
		if atFault == nil {
			return errors.New("scan: nil fetch classifier")
		}
		o.fetchAtFault = atFault
		return nil
	}
}

// WithSecretsOptions configures the secrets scan (fingerprint key, limits). Every scan
// looks for secrets in every layer.
func WithSecretsOptions(opts ...secrets.Option) Option {
	return func(o *options) error {
		o.secrets = append(o.secrets, opts...)
		return nil
	}
}

// WithVulnDB matches the packages found against db's vulnerability records (the
// ledger's, through vuln.NewHTTPSource, or a directory or OSV zip through vuln.LoadDB).
// Without it no vulnerability report is made: nothing was looked for.
func WithVulnDB(db vuln.Describer) Option {
	return func(o *options) error {
		if db == nil {
			return errors.New("scan: nil vulnerability database")
		}
		o.vulnDB = db
		return nil
	}
}

// WithVEX applies OpenVEX documents to the vulnerabilities found: statements that an
// image is not_affected by, or fixed for, a vulnerability change its finding's status
// (the finding stays in the report, with the statement that changed it).
func WithVEX(docs ...*vuln.VEXDocument) Option {
	return func(o *options) error {
		for _, d := range docs {
			if d == nil {
				return errors.New("scan: nil VEX document")
			}
		}
		o.vex = append(o.vex, docs...)
		return nil
	}
}

// WithScannerVersion names the scanner's version in the vulns and secrets predicates.
// Default: the main module's version from the build information, else "devel".
func WithScannerVersion(v string) Option {
	return func(o *options) error {
		if v == "" {
			return errors.New("scan: empty scanner version")
		}
		o.version = v
		return nil
	}
}

// ScannerURI identifies Custody's scanner in the predicates it writes.
const ScannerURI = "https://custody.dev/scanner"

// New returns a Scanner.
func New(opts ...Option) (*Scanner, error) {
	o := options{maxPlatforms: 64, fetchAtFault: func(error) bool { return false }, version: buildVersion(), now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if _, err := secrets.NewScanner(o.secrets...); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	cat, err := sbom.NewCataloguer(o.sbom...)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return &Scanner{cat: cat, o: o}, nil
}

// Result is the scan of one image manifest: a single-platform image, or one platform of
// an index.
type Result struct {
	// Digest is the image manifest digest scanned.
	Digest string `json:"digest"`
	// Reference names the image (repository@digest), or is empty (a tarball).
	Reference string `json:"reference,omitempty"`
	// Platform is os/architecture[/variant] when the image is one platform of an index.
	Platform string `json:"platform,omitempty"`
	// Status is COMPLETE, INCOMPLETE (nothing recognised: findings mean nothing) or FAILED.
	Status eventsv1.ScanStatus `json:"-"`
	// Detail says why the scan failed or is incomplete.
	Detail string `json:"detail,omitempty"`
	// Err is the failure of a FAILED scan.
	Err error `json:"-"`
	// OS is the operating system recognised ("debian 12"), if any.
	OS string `json:"os,omitempty"`
	// SBOM is the inventory; nil when the scan failed.
	SBOM *sbom.Result `json:"-"`
	// Packages lists the inventory's packages, Licenses summarises their licenses.
	Packages []Package      `json:"packages"`
	Licenses []LicenseCount `json:"licenses"`
	// Secrets is what the secrets scan of every layer found; SecretsPredicate its
	// predicate (attestation.PredicateSecretsV1). Both nil when the scan failed.
	Secrets          *secrets.Report `json:"secrets,omitempty"`
	SecretsPredicate []byte          `json:"-"`
	// Vulns is the vulnerability report, VulnsPredicate its in-toto vulns v0.2
	// predicate; both nil without a vulnerability database, with an empty one (VulnDB
	// then says so), or when the scan failed.
	Vulns          *vuln.Report `json:"vulnerabilities,omitempty"`
	VulnsPredicate []byte       `json:"-"`
	// VulnDB describes the database Vulns was matched against.
	VulnDB *vuln.Info `json:"vulnerabilityDatabase,omitempty"`
}

// AffectedCount is the number of vulnerability findings that still count against the
// image (not marked not_affected or fixed by VEX).
func (r *Result) AffectedCount() int {
	if r.Vulns == nil {
		return 0
	}
	n := 0
	for _, f := range r.Vulns.Findings {
		if f.Affected() {
			n++
		}
	}
	return n
}

// SecretCount is the number of secrets found.
func (r *Result) SecretCount() int {
	if r.Secrets == nil {
		return 0
	}
	return len(r.Secrets.Findings)
}

// StatusName is the status in lower case ("complete", "incomplete", "failed").
func (r *Result) StatusName() string {
	return strings.ToLower(strings.TrimPrefix(r.Status.String(), "SCAN_STATUS_"))
}

const incompleteDetail = "every layer was read but no operating system or package was recognised; the absence of findings means nothing"

// Image scans img, which the caller pulled by digest; reference names it in the SBOM
// ("" for none). A failure of the image itself is a FAILED Result (and a nil error);
// the error is for failures worth retrying.
func (s *Scanner) Image(ctx context.Context, img v1.Image, reference string) (*Result, error) {
	return s.image(ctx, img, reference, "")
}

func (s *Scanner) image(ctx context.Context, img v1.Image, reference, platform string) (*Result, error) {
	d, err := img.Digest()
	if err != nil {
		return failed(&Result{Reference: reference, Platform: platform}, fmt.Errorf("%w: image digest: %w", ErrImage, err)), nil
	}
	r := &Result{Digest: d.String(), Reference: reference, Platform: platform}
	started := s.o.now()
	sec, err := secrets.NewScanner(s.o.secrets...)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", r.Digest, err)
	}
	var secReport secrets.Report
	opts := []sbom.Option{
		sbom.WithObserver(secretsObserver{sec}),
		sbom.WithFinalView(func(fsys *imagefs.FS) { secReport = markDeleted(sec.Report(), fsys) }),
	}
	if reference != "" {
		opts = append(opts, sbom.WithReference(reference))
	}
	res, err := s.cat.Scan(ctx, img, opts...)
	if err != nil {
		if ctx.Err() != nil || !s.imageAtFault(err) {
			return nil, fmt.Errorf("scan %s: %w", r.Digest, err)
		}
		return failed(r, fmt.Errorf("%w: %w", ErrImage, err)), nil
	}
	r.SBOM, r.Status, r.OS = res, res.Status, res.OS
	if r.Packages, err = Packages(res.Document); err != nil {
		return nil, fmt.Errorf("scan %s: %w", r.Digest, err)
	}
	if r.Licenses, err = Licenses(res.Document); err != nil {
		return nil, fmt.Errorf("scan %s: %w", r.Digest, err)
	}
	if r.Status == eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE {
		r.Detail = incompleteDetail
	}
	r.Secrets = &secReport
	if r.SecretsPredicate, err = secrets.Predicate(secReport, secrets.PredicateMeta{ScannerURI: ScannerURI, ScannerVersion: s.o.version}); err != nil {
		return nil, fmt.Errorf("scan %s: %w", r.Digest, err)
	}
	if s.o.vulnDB != nil {
		if err := s.matchVulns(ctx, r, started); err != nil {
			return nil, fmt.Errorf("scan %s: %w", r.Digest, err)
		}
	}
	return r, nil
}

// matchVulns matches r's packages against the vulnerability database and applies VEX.
func (s *Scanner) matchVulns(ctx context.Context, r *Result, started time.Time) error {
	info, err := s.o.vulnDB.Info(ctx)
	if err != nil {
		return err
	}
	if info.Records == 0 {
		// Nothing to match against: no report, rather than an empty one that reads as
		// "no vulnerabilities". VulnDB says why.
		r.VulnDB = &info
		return nil
	}
	pkgs := make([]vuln.ScanPackage, 0, len(r.Packages))
	for _, p := range r.Packages {
		if p.PURL != "" {
			pkgs = append(pkgs, vuln.ScanPackage{PURL: p.PURL})
		}
	}
	rep, err := vuln.Match(ctx, s.o.vulnDB, pkgs)
	if err != nil {
		return err
	}
	if len(s.o.vex) > 0 {
		vuln.ApplyVEX(rep, vuln.Subject{PURL: imagePURL(r), Digest: r.Digest}, s.o.vex...)
	}
	if info.LastUpdate.IsZero() {
		// Records without a modified time cannot be: Parse requires one. Be safe anyway.
		info.LastUpdate = time.Unix(0, 0).UTC()
	}
	pred, err := vuln.NewPredicate(rep, vuln.ScanInfo{
		ScannerURI: ScannerURI, ScannerVersion: s.o.version, DBURI: info.URI, DBVersion: info.Version,
		DBLastUpdate: info.LastUpdate, StartedOn: started, FinishedOn: s.o.now(),
	})
	if err != nil {
		return err
	}
	r.Vulns, r.VulnsPredicate, r.VulnDB = rep, pred, &info
	return nil
}

// imagePURL is the image's pkg:oci package URL, the one its SBOM names (and VEX
// documents name products by), or "" without a reference.
func imagePURL(r *Result) string {
	ref, err := name.ParseReference(r.Reference)
	if err != nil {
		return ""
	}
	return sbom.ImagePURL(ref.Context(), r.Digest)
}

// secretsObserver passes every file of every layer to the secrets scanner.
type secretsObserver struct{ s *secrets.Scanner }

func (o secretsObserver) ObserveFile(l imagefs.Layer, path string, size int64) io.WriteCloser {
	if w := o.s.File(secrets.Location{Layer: l.Digest, LayerIndex: l.Index, Path: path}, size); w != nil {
		return w
	}
	return nil
}

// markDeleted sets Deleted on findings in files the final image no longer holds from
// that layer: deleted, or replaced by a later layer. They still ship in the image.
func markDeleted(rep secrets.Report, fsys *imagefs.FS) secrets.Report {
	for i := range rep.Findings {
		f := &rep.Findings[i]
		e, ok := fsys.Lookup(f.Path)
		f.Deleted = !ok || e.Layer != f.LayerIndex
	}
	return rep
}

// buildVersion is the main module's version, or "devel".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func failed(r *Result, err error) *Result {
	r.Status, r.Err, r.Detail = eventsv1.ScanStatus_SCAN_STATUS_FAILED, err, err.Error()
	return r
}

// imageAtFault reports whether a cataloguing error is the image's fault rather than the
// source's (a registry or network error worth retrying).
func (s *Scanner) imageAtFault(err error) bool {
	switch {
	case errors.Is(err, sbom.ErrLimitExceeded), errors.Is(err, sbom.ErrInvalidImage):
		return true
	case errors.Is(err, sbom.ErrFetch):
		return s.o.fetchAtFault(err)
	default:
		return false
	}
}

// Index scans each platform image of idx (pulled by digest; repository names its
// repository for references, "" for none). Entries that are not runnable images
// (attestation manifests, platform unknown/unknown) are skipped; nested indexes and
// unreadable entries are FAILED results. An index with no platform image, or more than
// the maximum, is an error wrapping ErrImage.
func (s *Scanner) Index(ctx context.Context, idx v1.ImageIndex, repository string) ([]*Result, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: read index manifest: %w", ErrImage, err)
	}
	var platforms []v1.Descriptor
	for _, d := range m.Manifests {
		if skipEntry(d) {
			continue
		}
		platforms = append(platforms, d)
	}
	switch {
	case len(platforms) == 0:
		return nil, fmt.Errorf("%w: the index names no platform image", ErrImage)
	case len(platforms) > s.o.maxPlatforms:
		return nil, fmt.Errorf("%w: the index names %d platform images, more than the %d allowed", ErrImage, len(platforms), s.o.maxPlatforms)
	}
	out := make([]*Result, 0, len(platforms))
	for _, d := range platforms {
		platform := PlatformString(d.Platform)
		ref := ""
		if repository != "" {
			ref = repository + "@" + d.Digest.String()
		}
		if !d.MediaType.IsImage() {
			out = append(out, failed(&Result{Digest: d.Digest.String(), Reference: ref, Platform: platform},
				fmt.Errorf("%w: entry %s has media type %s; nested indexes are not scanned", ErrImage, d.Digest, d.MediaType)))
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			if !s.o.fetchAtFault(err) {
				return nil, fmt.Errorf("scan %s: %w", d.Digest, err)
			}
			out = append(out, failed(&Result{Digest: d.Digest.String(), Reference: ref, Platform: platform},
				fmt.Errorf("%w: read platform image: %w", ErrImage, err)))
			continue
		}
		r, err := s.image(ctx, img, ref, platform)
		if err != nil {
			return nil, err
		}
		if r.Digest != d.Digest.String() {
			failed(r, fmt.Errorf("%w: the index names %s but the image read is %s", ErrImage, d.Digest, r.Digest))
		}
		out = append(out, r)
	}
	return out, nil
}

// skipEntry reports index entries that are not images to run: buildx attestation
// manifests and entries for platform unknown/unknown.
func skipEntry(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// PlatformString is os/architecture[/variant], or "" for none.
func PlatformString(p *v1.Platform) string {
	if p == nil || p.OS == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

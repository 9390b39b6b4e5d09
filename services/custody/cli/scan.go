package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/term"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/pkg/scan"
	"github.com/custody-dev/custody/pkg/vuln"
)

// scanOutputs are the formats `custody scan -o` writes.
var scanOutputs = []string{"table", "json", "cyclonedx-json", "spdx-json"}

// scanReport is `custody scan -o json`.
type scanReport struct {
	// Reference is what was scanned: REF@sha256:… or the tarball's path.
	Reference string `json:"reference"`
	// Digest is the image's or the index's digest.
	Digest string `json:"digest"`
	// Index is true when Digest is an image index; Images then holds one per platform.
	Index   bool          `json:"index"`
	Scanner string        `json:"scanner"`
	Images  []scanImage   `json:"images"`
	Elapsed time.Duration `json:"-"`
}

type scanImage struct {
	*scan.Result
	Status string `json:"status"`
}

func runScan(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "scan", "scan REF@sha256:...|--tarball FILE [-o "+strings.Join(scanOutputs, "|")+"] [--vulndb PATH|URL] [--vex FILE]... [--platform OS/ARCH] [--progress]")
	output := fs.String("o", "table", "output `format`: "+strings.Join(scanOutputs, ", "))
	tarPath := fs.String("tarball", "", "scan the image in `FILE` (`docker save` or `crane pull` format) instead of a registry")
	platform := fs.String("platform", "", "of an image index, scan only `OS/ARCH[/VARIANT]` (default: every platform)")
	progress := fs.Bool("progress", false, "show progress on stderr (only when stderr is a terminal)")
	tmp := fs.String("tmpdir", "", "`DIR` for the scan's temporary files (default the system's)")
	vulnDB := fs.String("vulndb", os.Getenv("CUSTODY_VULNDB"),
		"match packages against the OSV records in `PATH` (a directory, a .json file or OSV's per-ecosystem all.zip) or a ledger's database at an http(s) URL (env CUSTODY_VULNDB); none: no vulnerability report")
	var vexFiles []string
	fs.Func("vex", "apply the OpenVEX document in `FILE` to the vulnerabilities found (repeatable)", func(s string) error {
		vexFiles = append(vexFiles, s)
		return nil
	})
	registryOpts, err := registryFlags(fs)
	if err != nil {
		return err
	}
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *tarPath == "" && len(rest) != 1:
		return usageErr("name exactly one image, pinned by digest (REF@sha256:<hex>), or --tarball FILE")
	case *tarPath != "" && len(rest) != 0:
		return usageErr("name an image or --tarball FILE, not both")
	case !validOutput(*output):
		return usageErr("-o %q: use one of %s", *output, strings.Join(scanOutputs, ", "))
	}
	var want *v1.Platform
	if *platform != "" {
		if want, err = v1.ParsePlatform(*platform); err != nil || want.OS == "" || want.Architecture == "" {
			return usageErr("--platform %q: want OS/ARCH[/VARIANT], e.g. linux/amd64", *platform)
		}
	}
	if len(vexFiles) > 0 && *vulnDB == "" {
		return usageErr("--vex needs --vulndb: VEX documents change vulnerability findings")
	}
	sbomOpts := []sbom.Option{}
	if *tmp != "" {
		sbomOpts = append(sbomOpts, sbom.WithTempDir(*tmp))
	}
	opts := []scan.Option{scan.WithSBOMOptions(sbomOpts...), scan.WithFetchClassifier(func(error) bool { return true }), scan.WithScannerVersion(version)}
	if *vulnDB != "" {
		db, err := openVulnDB(*vulnDB, fs.bearer())
		if err != nil {
			return err
		}
		opts = append(opts, scan.WithVulnDB(db))
	}
	for _, f := range vexFiles {
		doc, err := readVEX(f)
		if err != nil {
			return err
		}
		opts = append(opts, scan.WithVEX(doc))
	}
	scanner, err := scan.New(opts...)
	if err != nil {
		return err
	}

	var meter *progressMeter
	if *progress && isTerminal(e.stderr) {
		meter = newProgressMeter(e.stderr)
		defer meter.stop()
	}
	start := time.Now()
	report := &scanReport{Scanner: sbom.Scanner()}
	var results []*scan.Result
	if *tarPath != "" {
		img, err := tarball.ImageFromPath(*tarPath, nil)
		if err != nil {
			return fmt.Errorf("read %s: %w (want a `docker save` or `crane pull` tarball of one image)", *tarPath, err)
		}
		d, err := img.Digest()
		if err != nil {
			return fmt.Errorf("read %s: %w", *tarPath, err)
		}
		report.Reference, report.Digest = *tarPath, d.String()
		r, err := scanner.Image(ctx, meter.image(img), "")
		if err != nil {
			return err
		}
		results = []*scan.Result{r}
	} else {
		if !strings.Contains(rest[0], "@sha256:") {
			return usageErr("%q is not pinned by digest: a scan is evidence about one digest; use REF@sha256:<hex>", rest[0])
		}
		ref, err := name.NewDigest(rest[0])
		if err != nil {
			return usageErr("%q: %v", rest[0], err)
		}
		report.Reference, report.Digest = ref.String(), ref.DigestStr()
		if results, report.Index, err = scanRemote(ctx, scanner, ref, want, meter, append(registryOpts(), remote.WithContext(ctx))); err != nil {
			return err
		}
	}
	meter.stop()
	report.Elapsed = time.Since(start)
	for _, r := range results {
		report.Images = append(report.Images, scanImage{Result: r, Status: r.StatusName()})
	}
	if err := writeScan(e.stdout, *output, report, results); err != nil {
		return err
	}
	var failures []string
	for _, r := range results {
		switch r.StatusName() {
		case "failed":
			failures = append(failures, fmt.Sprintf("%s: %s", describe(r), r.Detail))
		case "incomplete":
			fmt.Fprintf(e.stderr, "custody scan: %s is INCOMPLETE: %s\n", describe(r), r.Detail)
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("scan failed: %s", strings.Join(failures, "; "))
	}
	return nil
}

func validOutput(o string) bool {
	for _, v := range scanOutputs {
		if o == v {
			return true
		}
	}
	return false
}

func describe(r *scan.Result) string {
	if r.Platform != "" {
		return r.Platform + " " + r.Digest
	}
	return r.Digest
}

// scanRemote pulls ref by digest and scans it: an image, or each platform of an index
// (only want's, when given).
func scanRemote(ctx context.Context, s *scan.Scanner, ref name.Digest, want *v1.Platform, meter *progressMeter, opts []remote.Option) ([]*scan.Result, bool, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, false, fmt.Errorf("pull %s: %w", ref, err)
	}
	if desc.Digest.String() != ref.DigestStr() {
		return nil, false, fmt.Errorf("pull %s: the registry answered manifest %s", ref, desc.Digest)
	}
	if !desc.MediaType.IsIndex() {
		if want != nil {
			return nil, false, usageErr("--platform: %s is a single image, not an index", ref)
		}
		img, err := desc.Image()
		if err != nil {
			return nil, false, fmt.Errorf("pull %s: %w", ref, err)
		}
		r, err := s.Image(ctx, meter.image(img), ref.String())
		if err != nil {
			return nil, false, err
		}
		return []*scan.Result{r}, false, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, true, fmt.Errorf("pull %s: %w", ref, err)
	}
	if want != nil {
		idx = onlyPlatform{indexOf: indexOf{idx}, want: want}
	}
	results, err := s.Index(ctx, meter.index(idx), ref.Context().Name())
	if err != nil {
		return nil, true, err
	}
	if want != nil && len(results) == 0 {
		return nil, true, fmt.Errorf("%s has no image for platform %s", ref, want)
	}
	return results, true, nil
}

// onlyPlatform is an index that lists only the manifests for one platform.
type onlyPlatform struct {
	indexOf
	want *v1.Platform
}

func (o onlyPlatform) IndexManifest() (*v1.IndexManifest, error) {
	m, err := o.idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	cp := *m
	cp.Manifests = nil
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Satisfies(*o.want) {
			cp.Manifests = append(cp.Manifests, d)
		}
	}
	if len(cp.Manifests) == 0 {
		return nil, fmt.Errorf("the index has no image for platform %s", o.want)
	}
	return &cp, nil
}

func writeScan(w io.Writer, format string, report *scanReport, results []*scan.Result) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	case "cyclonedx-json":
		// One image (or the one platform asked for): its own SBOM; several: one about the index.
		if len(results) == 1 && results[0].SBOM != nil {
			_, err := w.Write(results[0].SBOM.Document)
			return err
		}
		doc, err := scan.IndexSBOM(report.Digest, strings.SplitN(report.Reference, "@", 2)[0], report.Scanner, results)
		if err != nil {
			return errors.New("no SBOM to write: " + err.Error())
		}
		_, err = w.Write(doc)
		return err
	case "spdx-json":
		if len(results) != 1 {
			return usageErr("-o spdx-json writes one image's SBOM: name one platform of the index with --platform")
		}
		if results[0].SBOM == nil {
			return fmt.Errorf("no SBOM to write: the scan %s", results[0].StatusName())
		}
		doc, err := results[0].SBOM.SPDX()
		if err != nil {
			return err
		}
		_, err = w.Write(doc)
		return err
	default:
		return writeScanTable(w, report)
	}
}

func writeScanTable(w io.Writer, report *scanReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, im := range report.Images {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		title := report.Reference
		if im.Platform != "" {
			title = im.Platform + "  " + im.Digest
		}
		fmt.Fprintf(tw, "%s\n", title)
		osName := im.OS
		if osName == "" {
			osName = "(none recognised)"
		}
		fmt.Fprintf(tw, "  status: %s\tos: %s\tpackages: %d\tsecrets: %d\tvulnerabilities: %s\n", strings.ToUpper(im.Status), osName,
			len(im.Packages), im.SecretCount(), vulnSummary(im.Result))
		if im.Detail != "" {
			fmt.Fprintf(tw, "  detail: %s\n", oneLine(im.Detail))
		}
		if len(im.Packages) > 0 {
			fmt.Fprintf(tw, "\n  NAME\tVERSION\tTYPE\tLICENSES\tLAYER\n")
			for _, p := range im.Packages {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Type, strings.Join(p.Licenses, ", "), shortDigest(p.Layer))
			}
		}
		if len(im.Licenses) > 0 {
			fmt.Fprintf(tw, "\n  LICENSE\tPACKAGES\n")
			for _, l := range im.Licenses {
				fmt.Fprintf(tw, "  %s\t%d\n", l.License, l.Packages)
			}
		}
		writeVulnTable(tw, im.Result)
		writeSecretTable(tw, im.Result)
	}
	return tw.Flush()
}

func shortDigest(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok && len(h) > 12 {
		return h[:12]
	}
	return d
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// vulnSummary is the number of vulnerabilities that count, or why there is none.
func vulnSummary(r *scan.Result) string {
	switch {
	case r.Vulns == nil && r.SBOM == nil:
		return "-"
	case r.Vulns == nil && r.VulnDB != nil:
		return "not checked (the vulnerability database is empty)"
	case r.Vulns == nil:
		return "not checked (no --vulndb)"
	default:
		return strconv.Itoa(r.AffectedCount())
	}
}

func writeVulnTable(tw io.Writer, r *scan.Result) {
	if r.Vulns == nil {
		return
	}
	if len(r.Vulns.Findings) > 0 {
		fmt.Fprintf(tw, "\n  VULNERABILITY\tSEVERITY\tPACKAGE\tVERSION\tFIXED IN\tSTATUS\tALIASES\n")
		for _, f := range r.Vulns.Findings {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, severityOf(f), f.Name, f.Version,
				strings.Join(f.Fixed, ", "), f.Status, strings.Join(f.Aliases, ", "))
		}
	}
	if n := len(r.Vulns.Unmatchable); n > 0 {
		fmt.Fprintf(tw, "\n  %d packages could not be checked (ecosystem or version not understood); -o json lists them\n", n)
	}
	if r.VulnDB != nil {
		fmt.Fprintf(tw, "  vulnerability database: %s (%s)\n", r.VulnDB.URI, r.VulnDB.Version)
	}
}

func severityOf(f vuln.Finding) string {
	if f.Severity.Base > 0 {
		return fmt.Sprintf("%s %.1f", f.Severity.Rating, f.Severity.Base)
	}
	return f.Severity.Rating
}

func writeSecretTable(tw io.Writer, r *scan.Result) {
	if r.Secrets == nil || len(r.Secrets.Findings) == 0 {
		return
	}
	fmt.Fprintf(tw, "\n  SECRET\tSEVERITY\tPATH\tLINE\tLAYER\tIN FINAL IMAGE\tFINGERPRINT\n")
	for _, f := range r.Secrets.Findings {
		present := "yes"
		if f.Deleted {
			present = "no (deleted later, still shipped)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d %s\t%s\t%s\n", f.RuleID, f.Severity, f.Path, f.Line, f.LayerIndex,
			shortDigest(f.Layer), present, f.Fingerprint)
	}
	if r.Secrets.Truncated {
		fmt.Fprintf(tw, "  (more secrets were found than reported: %d dropped)\n", r.Secrets.Stats.FindingsDropped)
	}
}

// openVulnDB opens the vulnerability database --vulndb names: a ledger's over HTTP, or
// OSV records on disk.
func openVulnDB(where, token string) (vuln.Describer, error) {
	if strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://") {
		u, err := url.Parse(where)
		if err != nil {
			return nil, usageErr("--vulndb %q: %v", where, err)
		}
		rt, err := auth.NewBearerTransport(nil, u, token)
		if err != nil {
			return nil, usageErr("--vulndb with CUSTODY_TOKEN: %v", err)
		}
		src, err := vuln.NewHTTPSource(where, &http.Client{Timeout: 2 * time.Minute, Transport: rt})
		if err != nil {
			return nil, usageErr("--vulndb: %v", err)
		}
		return src, nil
	}
	db, err := vuln.LoadDB(where)
	if err != nil {
		return nil, fmt.Errorf("--vulndb %s: %w", where, err)
	}
	if db.Len() == 0 {
		return nil, fmt.Errorf("--vulndb %s: no OSV records found there; a scan against an empty database would claim what it cannot know", where)
	}
	return db, nil
}

// maxVEXFile bounds a VEX document read from disk.
const maxVEXFile = 16 << 20

func readVEX(path string) (*vuln.VEXDocument, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--vex: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxVEXFile+1))
	if err != nil {
		return nil, fmt.Errorf("--vex %s: %w", path, err)
	}
	if len(data) > maxVEXFile {
		return nil, fmt.Errorf("--vex %s: larger than %d bytes", path, maxVEXFile)
	}
	doc, err := vuln.ParseVEX(data)
	if err != nil {
		return nil, fmt.Errorf("--vex %s: %w", path, err)
	}
	return doc, nil
}

package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	packageurl "github.com/anchore/packageurl-go"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
)

// Bounds on the SBOMs the ledger reads for package inventories.
const (
	// maxSBOMSize is the largest SBOM read: the largest an SBOM attestation may embed.
	maxSBOMSize = attestation.MaxSBOMSize
	// maxSBOMComponents bounds the components of one SBOM, nested ones included.
	maxSBOMComponents = 2 * ledger.MaxInventoryPackages
	// maxSBOMDepth bounds how deep components nest.
	maxSBOMDepth = 32
)

// errSBOM is wrapped by every error readSBOMPackages returns.
var errSBOM = errors.New("unreadable SBOM")

// indexPackages records the package inventory of a complete or incomplete scan: it
// fetches the scan's SBOM from the blob store and records its packages, keyed as the
// vulnerability database keys them, for the affected-by queries.
//
// The scan itself is recorded before this runs and stays recorded whatever happens here.
// An SBOM that cannot be read (not CycloneDX JSON, over the bounds, corrupt in the blob
// store) is a recorded warning, not a failure of the event: the inventory is recorded
// with the problem and no packages, so the artifact's packages show as unknown rather than
// none, a warning is logged, and the event is acknowledged, since the SBOM is named by its
// digest and another delivery would read the same bytes. Trouble that may pass (the blob
// store or the database not answering, the SBOM not stored yet) fails the event, which is
// redelivered; every write here is idempotent.
func (s *Service) indexPackages(ctx context.Context, sc ledger.Scan) error {
	if sc.SBOMDigest == "" || (sc.Status != ledger.ScanComplete && sc.Status != ledger.ScanIncomplete) {
		return nil
	}
	req := ledger.PutPackagesRequest{Digest: sc.Digest, SBOMDigest: sc.SBOMDigest}
	doc, err := s.blobs.Get(ctx, sc.SBOMDigest)
	switch {
	case errors.Is(err, blob.ErrCorrupt):
		req.Problem = fmt.Sprintf("the blob store's copy of SBOM %s does not match its digest", sc.SBOMDigest)
	case err != nil:
		return fmt.Errorf("fetch SBOM %s: %w", sc.SBOMDigest, err)
	default:
		inv, err := readSBOMPackages(doc)
		if err != nil {
			req.Problem = err.Error()
		} else {
			req.Packages, req.Skipped = inv.packages, inv.skipped
		}
	}
	if req.Problem != "" {
		s.log.WarnContext(ctx, "SBOM not indexed: the scan is recorded, its packages are unknown",
			"digest", sc.Digest, "sbom", sc.SBOMDigest, "scan_event", sc.EventID, "problem", req.Problem)
	}
	if _, err := s.store.PutPackages(ctx, req); err != nil {
		return fmt.Errorf("record packages of SBOM %s: %w", sc.SBOMDigest, err)
	}
	return nil
}

// sbomInventory is what an SBOM says about an artifact's packages.
type sbomInventory struct {
	packages []ledger.Package
	// skipped counts components left out: without a package URL, or with one that
	// does not parse or is too long to record.
	skipped int64
}

// cdxComponent is the part of a CycloneDX component an inventory needs.
type cdxComponent struct {
	PURL       string         `json:"purl"`
	Components []cdxComponent `json:"components"`
}

var specVersionRE = regexp.MustCompile(`^1\.[0-9]{1,2}$`)

// readSBOMPackages reads the packages of a CycloneDX JSON SBOM: every component, nested
// ones included, that has a package URL, once per package URL, in document order.
// The document is untrusted: it must be at most maxSBOMSize bytes of UTF-8 holding one
// JSON object with bomFormat "CycloneDX" and a 1.x specVersion, whose components (at
// most maxSBOMComponents, nested at most maxSBOMDepth deep) have the types CycloneDX
// gives them. Any other input is an error wrapping errSBOM that says what is wrong.
func readSBOMPackages(doc []byte) (sbomInventory, error) {
	var inv sbomInventory
	bad := func(format string, args ...any) (sbomInventory, error) {
		return sbomInventory{}, fmt.Errorf("%w: %s", errSBOM, fmt.Sprintf(format, args...))
	}
	if len(doc) > maxSBOMSize {
		return bad("%d bytes, more than %d", len(doc), maxSBOMSize)
	}
	if !utf8.Valid(doc) {
		return bad("not UTF-8")
	}
	var bom struct {
		BOMFormat   *string        `json:"bomFormat"`
		SpecVersion *string        `json:"specVersion"`
		Components  []cdxComponent `json:"components"`
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&bom); err != nil {
		return bad("not CycloneDX JSON: %s", clipError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("data after the JSON object")
	}
	switch {
	case bom.BOMFormat == nil || *bom.BOMFormat != "CycloneDX":
		return bad(`bomFormat is not "CycloneDX"`)
	case bom.SpecVersion == nil || !specVersionRE.MatchString(*bom.SpecVersion):
		return bad("specVersion is not 1.x")
	}
	seen := map[string]bool{}
	components := 0
	var walk func([]cdxComponent, int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > maxSBOMDepth {
			return fmt.Errorf("%w: components nested deeper than %d", errSBOM, maxSBOMDepth)
		}
		for _, c := range cs {
			if components++; components > maxSBOMComponents {
				return fmt.Errorf("%w: more than %d components", errSBOM, maxSBOMComponents)
			}
			if p, ok := packageOf(c.PURL); !ok {
				inv.skipped++
			} else if !seen[c.PURL] {
				seen[c.PURL] = true
				if len(inv.packages) >= ledger.MaxInventoryPackages {
					return fmt.Errorf("%w: more than %d packages", errSBOM, ledger.MaxInventoryPackages)
				}
				inv.packages = append(inv.packages, p)
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(bom.Components, 0); err != nil {
		return sbomInventory{}, err
	}
	return inv, nil
}

// packageOf describes the package a package URL names, and how the vulnerability
// database names it (nothing, when it maps to no ecosystem). It refuses a package URL
// that is empty, does not parse, or has a part the ledger cannot record.
func packageOf(purl string) (ledger.Package, bool) {
	if purl == "" || len(purl) > ledger.MaxPURL {
		return ledger.Package{}, false
	}
	u, err := packageurl.FromString(purl)
	if err != nil || u.Type == "" || u.Name == "" {
		return ledger.Package{}, false
	}
	p := ledger.Package{PURL: purl, Type: strings.ToLower(u.Type), Namespace: u.Namespace, Name: u.Name, Version: u.Version}
	if ref, err := vuln.PackageFromPURL(purl); err == nil && ref.Ecosystem != "" && ref.Name != "" && ref.Version != "" {
		p.Ecosystem, p.OSVName, p.OSVVersion = ref.Ecosystem, ref.Name, ref.Version
	}
	for _, f := range []string{p.Type, p.Namespace, p.Name, p.Version, p.Ecosystem, p.OSVName, p.OSVVersion} {
		if !recordable(f) {
			return ledger.Package{}, false
		}
	}
	return p, true
}

// recordable reports whether the ledger can store s as a package field: bounded UTF-8
// without NUL (decoded package URL parts may hold anything).
func recordable(s string) bool {
	return len(s) <= ledger.MaxPURL && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// clipError keeps a decoding error short.
func clipError(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "..."
	}
	return msg
}

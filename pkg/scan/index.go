package scan

import (
	"bytes"
	"fmt"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// IndexStatus is the status of an index as a whole: FAILED if any platform failed,
// else INCOMPLETE if any platform is, else COMPLETE.
func IndexStatus(results []*Result) eventsv1.ScanStatus {
	st := eventsv1.ScanStatus_SCAN_STATUS_COMPLETE
	for _, r := range results {
		switch r.Status {
		case eventsv1.ScanStatus_SCAN_STATUS_FAILED:
			return r.Status
		case eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE:
			st = r.Status
		}
	}
	return st
}

// IndexSBOM combines the platform SBOMs of an index into one CycloneDX 1.6 document about
// the index: its metadata component is the index, and each platform image is a
// container component whose nested components are that platform's packages (bom-refs
// prefixed by the platform digest, so they stay unique). Dependencies are per platform
// and stay in the platforms' own SBOMs. Every result must have an SBOM.
func IndexSBOM(indexDigest, repository, scanner string, results []*Result) ([]byte, error) {
	bom := cyclonedx.NewBOM()
	bom.SerialNumber = uuid.NewSHA1(uuid.NameSpaceURL, []byte("custody:index-sbom:"+scanner+":"+indexDigest)).URN()
	name := indexDigest
	if repository != "" {
		name = repository
	}
	bom.Metadata = &cyclonedx.Metadata{
		Tools: &cyclonedx.ToolsChoice{Components: &[]cyclonedx.Component{{Type: cyclonedx.ComponentTypeApplication, Name: "custody", Version: scanner}}},
		Component: &cyclonedx.Component{
			BOMRef: "index:" + indexDigest, Type: cyclonedx.ComponentTypeContainer, Name: name, Version: indexDigest,
			Hashes: &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: strings.TrimPrefix(indexDigest, "sha256:")}},
		},
	}
	var comps []cyclonedx.Component
	for _, r := range results {
		if r.SBOM == nil {
			return nil, fmt.Errorf("scan: index SBOM: platform %s (%s) has no SBOM (%s)", r.Platform, r.Digest, r.StatusName())
		}
		var pb cyclonedx.BOM
		if err := cyclonedx.NewBOMDecoder(bytes.NewReader(r.SBOM.Document), cyclonedx.BOMFileFormatJSON).Decode(&pb); err != nil {
			return nil, fmt.Errorf("scan: index SBOM: read platform %s SBOM: %w", r.Platform, err)
		}
		prefix := r.Digest + "/"
		var nested []cyclonedx.Component
		if pb.Components != nil {
			nested = *pb.Components
			for i := range nested {
				prefixRefs(&nested[i], prefix, 0)
			}
		}
		c := cyclonedx.Component{
			BOMRef: "platform:" + r.Digest, Type: cyclonedx.ComponentTypeContainer, Name: name, Version: r.Digest,
			Hashes:     &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: strings.TrimPrefix(r.Digest, "sha256:")}},
			Properties: &[]cyclonedx.Property{{Name: "custody:platform", Value: r.Platform}, {Name: "custody:scan:status", Value: r.StatusName()}},
		}
		if len(nested) > 0 {
			c.Components = &nested
		}
		comps = append(comps, c)
	}
	bom.Components = &comps
	var buf bytes.Buffer
	if err := cyclonedx.NewBOMEncoder(&buf, cyclonedx.BOMFileFormatJSON).EncodeVersion(bom, cyclonedx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("scan: index SBOM: encode: %w", err)
	}
	return buf.Bytes(), nil
}

func prefixRefs(c *cyclonedx.Component, prefix string, depth int) {
	if c.BOMRef != "" {
		c.BOMRef = prefix + c.BOMRef
	}
	if c.Components == nil || depth >= maxComponentDepth {
		c.Components = nil
		return
	}
	for i := range *c.Components {
		prefixRefs(&(*c.Components)[i], prefix, depth+1)
	}
}

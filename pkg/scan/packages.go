package scan

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/custody-dev/custody/pkg/sbom"
)

// Package is one package of an image's inventory, as the SBOM describes it.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Type is the cataloguer's package type ("deb", "go-module", "npm", ...).
	Type string `json:"type,omitempty"`
	PURL string `json:"purl,omitempty"`
	// Licenses are SPDX ids or expressions, else license names, as found.
	Licenses []string `json:"licenses,omitempty"`
	// Layer is the diffID of the layer the package was found in, and Path where.
	Layer string `json:"layer,omitempty"`
	Path  string `json:"path,omitempty"`
}

// cdxComponent is the part of a CycloneDX component Packages reads.
type cdxComponent struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	PURL     string `json:"purl"`
	Licenses []struct {
		License *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"license"`
		Expression string `json:"expression"`
	} `json:"licenses"`
	Properties []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"properties"`
	Components []cdxComponent `json:"components"`
}

// maxComponentDepth bounds nested components.
const maxComponentDepth = 8

// Packages lists the packages of a CycloneDX JSON SBOM (components that are not the
// operating system, files or containers), in document order.
func Packages(cyclonedxJSON []byte) ([]Package, error) {
	var bom struct {
		BOMFormat  string         `json:"bomFormat"`
		Components []cdxComponent `json:"components"`
	}
	if err := json.Unmarshal(cyclonedxJSON, &bom); err != nil {
		return nil, fmt.Errorf("scan: read SBOM: %w", err)
	}
	if bom.BOMFormat != "CycloneDX" {
		return nil, fmt.Errorf("scan: read SBOM: bomFormat %q, want CycloneDX", bom.BOMFormat)
	}
	var out []Package
	var walk func(cs []cdxComponent, depth int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > maxComponentDepth {
			return fmt.Errorf("scan: read SBOM: components nested deeper than %d", maxComponentDepth)
		}
		for _, c := range cs {
			switch c.Type {
			case "operating-system", "file", "container":
			default:
				out = append(out, packageOf(c))
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(bom.Components, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func packageOf(c cdxComponent) Package {
	p := Package{Name: c.Name, Version: c.Version, PURL: c.PURL}
	for _, l := range c.Licenses {
		switch {
		case l.Expression != "":
			p.Licenses = append(p.Licenses, l.Expression)
		case l.License != nil && l.License.ID != "":
			p.Licenses = append(p.Licenses, l.License.ID)
		case l.License != nil && l.License.Name != "":
			p.Licenses = append(p.Licenses, l.License.Name)
		}
	}
	slices.Sort(p.Licenses)
	p.Licenses = slices.Compact(p.Licenses)
	for _, prop := range c.Properties {
		switch {
		case prop.Name == "syft:package:type":
			p.Type = prop.Value
		case p.Layer == "" && strings.HasPrefix(prop.Name, "syft:location:") && strings.HasSuffix(prop.Name, ":layerID"):
			p.Layer = prop.Value
		case p.Path == "" && strings.HasPrefix(prop.Name, "syft:location:") && strings.HasSuffix(prop.Name, ":path"):
			p.Path = prop.Value
		}
	}
	if p.Type == "" {
		if t, _, ok := strings.Cut(strings.TrimPrefix(c.PURL, "pkg:"), "/"); ok {
			p.Type = t
		}
	}
	return p
}

// Licenses reads the per-license package counts pkg/sbom writes into a CycloneDX
// document's metadata (sbom.LicenseSummaryProperty), sorted by count then license.
func Licenses(cyclonedxJSON []byte) ([]LicenseCount, error) {
	var bom struct {
		Metadata struct {
			Properties []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"properties"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(cyclonedxJSON, &bom); err != nil {
		return nil, fmt.Errorf("scan: read SBOM: %w", err)
	}
	out := []LicenseCount{}
	for _, p := range bom.Metadata.Properties {
		l, ok := strings.CutPrefix(p.Name, sbom.LicenseSummaryProperty)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(p.Value)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("scan: read SBOM: license summary %s = %q is not a count", l, p.Value)
		}
		out = append(out, LicenseCount{License: l, Packages: n})
	}
	slices.SortFunc(out, func(a, b LicenseCount) int {
		if a.Packages != b.Packages {
			return b.Packages - a.Packages
		}
		return strings.Compare(a.License, b.License)
	})
	return out, nil
}

// LicenseCount is how many packages carry a license.
type LicenseCount struct {
	License  string `json:"license"`
	Packages int    `json:"packages"`
}

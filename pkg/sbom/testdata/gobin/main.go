// Command gobin is a tiny Go program that the sbom tests put in an image layer: its
// embedded build information names a main module and one dependency.
package main

import (
	"fmt"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
)

func main() { fmt.Println(cyclonedx.SpecVersion1_6) }

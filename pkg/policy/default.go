package policy

// DefaultDevPolicyYAML is the policy `custody dev` starts with: for every destination,
// the image needs SLSA provenance from the development builder and a CycloneDX SBOM,
// each signed by a trusted key.
const DefaultDevPolicyYAML = `# Written by custody dev. Edit it, or add more specific policies beside it.
apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata:
  name: default
spec:
  destinations: ["**"]
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      condition: 'predicate.runDetails.builder.id == "urn:custody:builder:dev"'
    - name: sbom
      predicateType: https://cyclonedx.org/bom
`

// DefaultDevPolicy returns DefaultDevPolicyYAML's bytes.
func DefaultDevPolicy() []byte { return []byte(DefaultDevPolicyYAML) }

package policy

// DefaultDevPolicyYAML is the policy `custody dev` starts with: for every destination,
// the image needs SLSA provenance from the development builder and a CycloneDX SBOM,
// each signed by a trusted key. The vulnerability and secrets scans are advisory: every
// decision reports whether the image has critical vulnerabilities or secrets, and
// neither denies until the requirement says required: true.
const DefaultDevPolicyYAML = `# Written by custody dev. Edit it, or add more specific policies beside it.
# Provenance and an SBOM are required. The vulnerability and secrets scans are reported
# in every decision but never deny; set required: true on them to enforce them.
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
    - name: vulns
      predicateType: https://in-toto.io/attestation/vulns/v0.2
      required: false
      maxAge: 720h
      condition: '!vulns.exists(v, v.severity == "critical")'
    - name: secrets
      predicateType: https://custody.dev/attestations/secrets/v1
      required: false
      condition: 'size(secrets) == 0'
`

// DefaultDevPolicy returns DefaultDevPolicyYAML's bytes.
func DefaultDevPolicy() []byte { return []byte(DefaultDevPolicyYAML) }

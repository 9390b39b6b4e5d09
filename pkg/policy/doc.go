// Package policy loads promotion policies and decides, over verified attestations,
// whether an image may be promoted to a destination.
//
// A policy is a YAML document (apiVersion custody.dev/v1, kind PromotionPolicy) naming
// the destination repositories it governs, the authorities (trusted key ids) whose
// signatures count, and requirements: a predicate type that must be attested and,
// optionally, a CEL condition over the statement that must hold. Documents are decoded
// strictly (unknown fields are errors) and conditions are compiled once, type-checked to
// bool and cost-limited. Evaluation fails closed: every error, missing attestation or
// attestation about another digest denies, and each Decision says why, which policy (by
// digest) decided and which envelopes it relied on.
//
// It is not a verifier: its input is []*verify.Result, envelopes that package verify has
// already checked against trusted keys and the artifact digest. Nor does it fetch
// evidence, wait for it or publish decisions; services/gate does that.
package policy

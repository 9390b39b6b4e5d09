package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	vsa "github.com/in-toto/attestation/go/predicates/vsa/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
)

// Content is what Evaluate reads from a verified attestation before any policy applies:
// whether its predicate is what its declared type says, the facts derived from it
// (licences, findings before waivers, secrets) and the times it claims. It depends only
// on the attestation, so a caller that verifies envelopes concurrently can read each
// one's content in the same goroutine (ReadContent), keep it with the verification, and
// hand it to Evaluate in Input.Contents instead of Evaluate reading it again, one
// attestation after another.
//
// A Content never changes once read (the statement's generic decoding, which only some
// conditions need, happens at most once, synchronised), so evaluations may share it.
type Content struct {
	// envelope and predicateType are the attestation's it was read from: Evaluate uses a
	// Content only for an attestation with both the same.
	envelope, predicateType string
	payload                 []byte
	// unusable says why the content does not match its declared type; empty when it does.
	unusable string
	// times are the times the statement claims, the one that dates the evidence first.
	times    []claimed
	licenses []string
	vulns    []Vuln
	secrets  []SecretFinding

	decode    sync.Once
	statement map[string]any
	predicate map[string]any
	decodeErr error
}

// ReadContent reads a's content, which package verify has accepted. It never fails: a
// content that does not match its type is recorded as unusable, and Evaluate says why.
func ReadContent(a *verify.Result) *Content {
	c := &Content{envelope: a.EnvelopeDigest, predicateType: a.PredicateType, payload: a.Payload}
	if len(c.payload) == 0 {
		payload, err := protojson.Marshal(a.Statement)
		if err != nil {
			c.unusable = "statement cannot be encoded: " + truncate(err.Error())
			return c
		}
		c.payload = payload
	}
	// Verify hands over the predicate it found in the payload; other results are read
	// here.
	predicate := a.Predicate
	if predicate == nil {
		var raw struct {
			Predicate json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(c.payload, &raw); err != nil {
			c.unusable = "statement is not JSON: " + truncate(err.Error())
			return c
		}
		predicate = raw.Predicate
	}
	if err := c.read(predicate); err != nil {
		c.unusable = fmt.Sprintf("content of %s does not match its predicate type %s: %s", a.EnvelopeDigest, a.PredicateType, truncate(err.Error()))
		c.times, c.licenses, c.vulns, c.secrets = nil, nil, nil, nil
	}
	return c
}

// usableFor reports whether c was read from an attestation like a.
func (c *Content) usableFor(a *verify.Result) bool {
	return c != nil && c.envelope == a.EnvelopeDigest && c.predicateType == a.PredicateType
}

// read checks that predicate is what c's predicate type says and derives the facts and
// claimed times of the types Evaluate knows; others are used as they are.
func (c *Content) read(predicate json.RawMessage) error {
	switch c.predicateType {
	case PredicateSLSAProvenanceV1:
		var prov slsa.Provenance
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(predicate, &prov); err != nil {
			return err
		}
		if err := prov.Validate(); err != nil {
			return err
		}
		md := prov.GetRunDetails().GetMetadata()
		for _, t := range []struct {
			field string
			ts    *timestamppb.Timestamp
		}{{"runDetails.metadata.finishedOn", md.GetFinishedOn()}, {"runDetails.metadata.startedOn", md.GetStartedOn()}} {
			if t.ts != nil {
				c.times = append(c.times, claimed{t.field, t.ts.AsTime()})
			}
		}
	case PredicateCycloneDX:
		licenses, err := sbomLicenses(predicate)
		if err != nil {
			return err
		}
		c.licenses = licenses
	case PredicateVulnsV02:
		vp, err := vuln.ParsePredicate(predicate)
		if err != nil {
			return err
		}
		c.vulns = vulnFacts(vp)
		c.times = []claimed{
			{"metadata.scanFinishedOn", vp.Metadata.ScanFinishedOn},
			{"metadata.scanStartedOn", vp.Metadata.ScanStartedOn},
		}
	case PredicateSecretsV1:
		sp, err := secrets.ParsePredicate(predicate)
		if err != nil {
			return err
		}
		c.secrets = make([]SecretFinding, 0, len(sp.Findings))
		for _, f := range sp.Findings {
			c.secrets = append(c.secrets, SecretFinding{Rule: f.RuleID, Path: f.Path, Layer: f.Layer, Deleted: f.Deleted, Severity: string(f.Severity)})
		}
	case PredicateSLSAVSAV1:
		var v vsa.VerificationSummary
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(predicate, &v); err != nil {
			return err
		}
		switch {
		case v.GetVerifier().GetId() == "":
			return errors.New("verifier.id: missing")
		case v.GetResourceUri() == "":
			return errors.New("resourceUri: missing")
		case v.GetVerificationResult() != "PASSED" && v.GetVerificationResult() != "FAILED":
			return fmt.Errorf("verificationResult %q: want PASSED or FAILED", clip(v.GetVerificationResult()))
		}
		if ts := v.GetTimeVerified(); ts != nil {
			if err := ts.CheckValid(); err != nil {
				return fmt.Errorf("timeVerified: %w", err)
			}
			c.times = []claimed{{"timeVerified", ts.AsTime()}}
		}
	}
	return nil
}

// statementJSON is the statement and its predicate as generic JSON (the predicate an
// empty object when there is none), decoded on first use.
func (c *Content) statementJSON() (statement, predicate map[string]any, err error) {
	c.decode.Do(func() {
		var st map[string]any
		if err := json.Unmarshal(c.payload, &st); err != nil {
			c.decodeErr = fmt.Errorf("decode statement: %w", err)
			return
		}
		pred, _ := st["predicate"].(map[string]any)
		if pred == nil {
			pred = map[string]any{}
		}
		c.statement, c.predicate = st, pred
	})
	return c.statement, c.predicate, c.decodeErr
}

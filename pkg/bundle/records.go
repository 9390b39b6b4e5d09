package bundle

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/tlog"
)

// Log entry kinds, and the JSON of each kind's entry as the ledger logs it. The ledger
// service writes its entries with these types (json.Marshal, so fields in the order
// declared here): a change to them changes the bytes of every entry logged after it.
const (
	KindAttestation = "attestation"
	KindDecision    = "decision"
)

// AttestationLeaf is the log entry of a verified attestation.
type AttestationLeaf struct {
	Kind           string   `json:"kind"`
	EnvelopeDigest string   `json:"envelopeDigest"`
	SubjectDigest  string   `json:"subjectDigest"`
	PredicateType  string   `json:"predicateType"`
	KeyIDs         []string `json:"keyIds"`
}

// DecisionLeaf is the log entry of a gate decision.
type DecisionLeaf struct {
	Kind               string   `json:"kind"`
	RequestID          string   `json:"requestId"`
	Digest             string   `json:"digest"`
	Verdict            string   `json:"verdict"`
	PolicyDigest       string   `json:"policyDigest"`
	AttestationDigests []string `json:"attestationDigests"`
}

// parseLeaf decodes a log entry strictly into an AttestationLeaf or a DecisionLeaf.
func parseLeaf(entry []byte) (any, error) {
	var k struct {
		Kind string `json:"kind"`
	}
	// The kind first, leniently, to pick the schema; then the whole entry, strictly.
	if err := json.Unmarshal(entry, &k); err != nil {
		return nil, malformed("log entry is not a JSON object: %v", err)
	}
	switch k.Kind {
	case KindAttestation:
		var a AttestationLeaf
		if err := decodeStrict(entry, MaxLeaf, &a); err != nil {
			return nil, err
		}
		return &a, nil
	case KindDecision:
		var d DecisionLeaf
		if err := decodeStrict(entry, MaxLeaf, &d); err != nil {
			return nil, err
		}
		return &d, nil
	}
	return nil, malformed("log entry of unknown kind %q", trunc(k.Kind))
}

// recordsHeader is the first line of a records note. Its second line is a digest, so
// no checkpoint parser (which wants a decimal tree size there) can take a records note
// for a checkpoint signed by the same key.
const recordsHeader = "custody.dev/bundle-records/v1"

// RecordsText is the text of the note that the ledger signs with its log key over a
// bundle's decisions and promotions: a header line, the artifact digest, the size and
// root of the bundle's checkpoint, and sha256 of the records' canonical JSON.
func RecordsText(b *Bundle, cp tlog.Checkpoint) (string, error) {
	sum, err := recordsDigest(b)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", recordsHeader, b.Digest, cp.Size,
		base64.StdEncoding.EncodeToString(cp.Root), sum), nil
}

// SignRecords sets b.Records to the records note for cp, signed by the log's signer.
func SignRecords(b *Bundle, cp tlog.Checkpoint, signer note.Signer) error {
	if signer == nil {
		return errors.New("bundle: nil log signer")
	}
	text, err := RecordsText(b, cp)
	if err != nil {
		return err
	}
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return fmt.Errorf("bundle: sign records: %w", err)
	}
	b.Records = string(signed)
	return nil
}

// recordsDigest is sha256 of the canonical JSON of the bundle's digest, decisions and
// promotions: json.Marshal of the parsed values, with absent lists as [].
func recordsDigest(b *Bundle) (string, error) {
	doc := struct {
		Digest     string      `json:"digest"`
		Decisions  []Decision  `json:"decisions"`
		Promotions []Promotion `json:"promotions"`
	}{Digest: b.Digest, Decisions: []Decision{}, Promotions: []Promotion{}}
	for _, d := range b.Decisions {
		d.AttestationDigests = nonNil(d.AttestationDigests)
		d.Reasons = nonNil(d.Reasons)
		doc.Decisions = append(doc.Decisions, d)
	}
	doc.Promotions = append(doc.Promotions, b.Promotions...)
	data, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("bundle: encode records: %w", err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// openNote verifies a signed note with v and refuses what note.Open lets pass but a
// byte-exact check must not: signatures by keys other than v, and signature lines whose
// base64 is not canonical (whose changed padding bits would not change the signature).
func openNote(signed string, v note.Verifier) (*note.Note, error) {
	if len(signed) > tlog.MaxSignedCheckpoint {
		return nil, fmt.Errorf("%d bytes, at most %d", len(signed), tlog.MaxSignedCheckpoint)
	}
	split := strings.LastIndex(signed, "\n\n")
	if split < 0 {
		return nil, errors.New("malformed note: no signature block")
	}
	sigs := signed[split+2:]
	for line := range strings.Lines(sigs) {
		line = strings.TrimSuffix(line, "\n")
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, errors.New("malformed note: bad signature line")
		}
		enc := line[i+1:]
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != enc {
			return nil, errors.New("malformed note: signature is not canonical base64")
		}
	}
	n, err := note.Open([]byte(signed), note.VerifierList(v))
	if err != nil {
		return nil, err
	}
	if len(n.UnverifiedSigs) > 0 {
		return nil, fmt.Errorf("signed by a key other than the log's (%s)", trunc(n.UnverifiedSigs[0].Name))
	}
	return n, nil
}

package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/oci"
)

// pathAttestations is ingest's import endpoint (services/ingest PathAttestations).
const pathAttestations = "/v1/attestations"

// Statuses of one imported envelope.
const (
	importRecorded = "recorded" // the ledger holds it
	importAccepted = "accepted" // ingest verified and published it; the ledger records it next
	importRejected = "rejected" // the server refused it: it does not verify (or is malformed)
	importFailed   = "failed"   // it could not be sent or the server failed
)

// importResult is what became of one attached envelope.
type importResult struct {
	// PredicateType is the verified statement's once accepted; before that, and for a
	// rejected envelope, what the layer's annotation (or the unverified payload) claims.
	PredicateType string `json:"predicateType"`
	// KeyIDs are the trusted keys that verified it; for a rejected envelope, the key ids
	// its signatures claim (often none: cosign leaves keyid empty).
	KeyIDs []string `json:"keyIds"`
	// LayerDigest is the attachment layer's digest.
	LayerDigest string `json:"layerDigest"`
	// EnvelopeDigest is the ledger's key for the envelope, once accepted.
	EnvelopeDigest string `json:"envelopeDigest,omitempty"`
	Status         string `json:"status"`
	Reason         string `json:"reason,omitempty"`
	// LogIndex is the envelope's entry in the ledger's log, once recorded (-1: none).
	LogIndex *int64 `json:"logIndex,omitempty"`
}

// importReport is `custody attest import -o json`.
type importReport struct {
	Subject    string         `json:"subject"`
	Attachment string         `json:"attachment"`
	Results    []importResult `json:"results"`
}

func runAttest(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "import" {
		return runAttestImport(ctx, e, args[1:])
	}
	return usageErr("say what to do: `custody attest import REF@sha256:...`")
}

func runAttestImport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "attest import",
		"attest import REF@sha256:... [--server URL] [--insecure-registry HOST] [--wait=false] [-o table|json]")
	server := serverFlag(fs)
	output := fs.String("o", "table", "output `format`: table or json")
	wait := fs.Bool("wait", true, "wait until the ledger has recorded each accepted attestation")
	timeout := fs.Duration("timeout", 60*time.Second, "how long --wait waits")
	ledgerURL := fs.String("ledger", "", "ledger API `URL` that --wait asks (default --server, as with `custody dev`)")
	registryOpts, err := registryFlags(fs)
	if err != nil {
		return err
	}
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("name exactly one image, pinned by digest: REF@sha256:<hex>")
	}
	if !strings.Contains(rest[0], "@sha256:") {
		return usageErr("%q is not pinned by digest: attestations are about one digest; use REF@sha256:<hex>", rest[0])
	}
	subject, err := name.NewDigest(rest[0])
	if err != nil {
		return usageErr("%q: %v", rest[0], err)
	}
	if *output != "table" && *output != "json" {
		return usageErr("-o %q: use table or json", *output)
	}
	if *wait && *timeout <= 0 {
		return usageErr("--timeout must be positive")
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	ledger := c
	if *ledgerURL != "" {
		if ledger, err = newClient(*ledgerURL, fs.bearer()); err != nil {
			return usageErr("--ledger: %v", err)
		}
	}

	opts := registryOpts()
	atts, err := attachedEnvelopes(ctx, subject, opts)
	if err != nil {
		return err
	}
	report := importReport{Subject: subject.Name(), Attachment: subject.Context().Tag(oci.AttachmentTag(subject.DigestStr())).Name()}
	if len(atts) == 0 {
		return denied("no attestations are attached to %s (looked for %s and for Sigstore bundle referrers): nothing to import",
			subject.Name(), report.Attachment)
	}
	for _, a := range atts {
		report.Results = append(report.Results, importOne(ctx, c, subject, a))
	}
	var waitErr error
	if *wait {
		waitErr = awaitRecorded(ctx, ledger, subject.DigestStr(), report.Results, *timeout)
	}
	if err := printImport(e.stdout, *output, &report); err != nil {
		return err
	}
	if waitErr != nil {
		return waitErr
	}
	return importOutcome(&report)
}

// attachedEnvelopes reads the envelopes attached to subject in both layouts cosign
// writes: the .att tag (cosign v2, and v3 with --new-bundle-format=false) and Sigstore
// bundle referrers (cosign v3's default, through the OCI referrers API or its tag
// schema). An envelope found in both is listed once, from the .att tag.
func attachedEnvelopes(ctx context.Context, subject name.Digest, opts []remote.Option) ([]oci.StoredAttachment, error) {
	atts, err := oci.ReadAttachments(ctx, subject, opts...)
	if err != nil {
		return nil, err
	}
	bundles, err := oci.ReadBundleReferrers(ctx, subject, opts...)
	if err != nil {
		return nil, err
	}
	seen := map[[sha256.Size]byte]bool{}
	for _, a := range atts {
		seen[sha256.Sum256(a.Envelope)] = true
	}
	for _, b := range bundles {
		if h := sha256.Sum256(b.Envelope); !seen[h] {
			seen[h] = true
			atts = append(atts, oci.StoredAttachment{Attachment: b.Attachment, Digest: b.Digest, Annotations: b.Annotations})
		}
	}
	return atts, nil
}

// importOne posts one attached envelope to the server.
func importOne(ctx context.Context, c *client, subject name.Digest, a oci.StoredAttachment) importResult {
	claimedType, claimedKeys := describeEnvelope(a.Envelope)
	res := importResult{PredicateType: a.PredicateType, KeyIDs: claimedKeys, LayerDigest: a.Digest}
	if res.PredicateType == "" {
		res.PredicateType = claimedType
	}
	// The envelope goes byte for byte, so that its digest on the server is the layer's.
	subjectJSON, err := json.Marshal(subject.Name())
	if err != nil {
		res.Status, res.Reason = importFailed, err.Error()
		return res
	}
	body := make([]byte, 0, len(a.Envelope)+len(subjectJSON)+32)
	body = append(append(append(append(body, `{"subject":`...), subjectJSON...), `,"envelope":`...), a.Envelope...)
	body = append(body, '}')
	var ok struct {
		PredicateType  string   `json:"predicateType"`
		KeyIDs         []string `json:"keyIds"`
		EnvelopeDigest string   `json:"envelopeDigest"`
	}
	err = c.doRaw(ctx, http.MethodPost, pathAttestations, body, &ok)
	var ae *apiError
	switch {
	case err == nil:
		res.Status, res.PredicateType, res.KeyIDs, res.EnvelopeDigest = importAccepted, ok.PredicateType, ok.KeyIDs, ok.EnvelopeDigest
	case errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity ||
		ae.Status == http.StatusRequestEntityTooLarge):
		// The envelope (or the request made of it) is what was refused.
		res.Status, res.Reason = importRejected, ae.Message
	default:
		res.Status, res.Reason = importFailed, err.Error()
	}
	return res
}

// describeEnvelope reads what an envelope claims, unverified, for the report: the
// statement's predicate type and the signatures' key ids.
func describeEnvelope(envelope []byte) (predicateType string, keyIDs []string) {
	var env struct {
		Payload    string `json:"payload"`
		Signatures []struct {
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	}
	if json.Unmarshal(envelope, &env) != nil {
		return "", nil
	}
	for _, s := range env.Signatures {
		if s.KeyID != "" {
			keyIDs = append(keyIDs, s.KeyID)
		}
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if payload, err := base64.StdEncoding.DecodeString(env.Payload); err == nil && json.Unmarshal(payload, &st) == nil {
		predicateType = st.PredicateType
	}
	return predicateType, keyIDs
}

// awaitRecorded polls the ledger's provenance of digest until every accepted result is
// recorded, marking each as it appears, or until timeout.
func awaitRecorded(ctx context.Context, ledger *client, digest string, results []importResult, timeout time.Duration) error {
	pending := 0
	for _, r := range results {
		if r.Status == importAccepted {
			pending++
		}
	}
	if pending == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var doc provenanceDoc
		err := ledger.do(ctx, "GET", "/v1/artifacts/"+digest+"/provenance", nil, &doc)
		var ae *apiError
		switch {
		case err == nil:
			for i := range results {
				r := &results[i]
				for _, a := range doc.Attestations {
					if r.Status == importAccepted && a.EnvelopeDigest == r.EnvelopeDigest {
						idx := a.LogIndex
						r.Status, r.LogIndex = importRecorded, &idx
						pending--
					}
				}
			}
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound, ctx.Err() != nil:
			// Nothing recorded about the digest yet.
		default:
			return fmt.Errorf("wait for the ledger: %w", err)
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d accepted attestation(s) not recorded by the ledger at %s within %s: "+
				"does the ledger trust the same keys as ingest? (see its log; --ledger names another ledger URL, --wait=false does not wait)",
				pending, ledger.base.Redacted(), timeout)
		case <-tick.C:
		}
	}
}

// importOutcome is the exit status: success when anything was imported, an error when
// something could not be sent, else denial: nothing verified with a trusted key.
func importOutcome(r *importReport) error {
	var imported, rejected int
	var failure string
	for _, x := range r.Results {
		switch x.Status {
		case importRecorded, importAccepted:
			imported++
		case importRejected:
			rejected++
		default:
			if failure == "" {
				failure = x.Reason
			}
		}
	}
	switch {
	case imported > 0:
		return nil
	case failure != "":
		return fmt.Errorf("no attestation imported: %s", failure)
	default:
		return denied("none of the %d attestation(s) attached to %s verify with a key Custody trusts", rejected, r.Subject)
	}
}

func printImport(w io.Writer, format string, r *importReport) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "%s: %d attestation(s) attached (in %s and Sigstore bundle referrers)\n", r.Subject, len(r.Results), r.Attachment)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREDICATE TYPE\tKEY\tSTATUS\tDETAIL")
	for _, x := range r.Results {
		key := short(strings.Join(x.KeyIDs, ","))
		detail := x.Reason
		switch x.Status {
		case importRecorded:
			detail = "envelope " + short(x.EnvelopeDigest) + ", " + logPosition(*x.LogIndex)
		case importAccepted:
			detail = "envelope " + short(x.EnvelopeDigest) + ", the ledger records it next"
		}
		predicate := x.PredicateType
		if predicate == "" {
			predicate = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", predicate, key, x.Status, oneLine(detail))
	}
	return tw.Flush()
}

// oneLine keeps a server's message on its row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

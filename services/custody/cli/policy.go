package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/daemon"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
)

func runPolicy(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageErr("name a subcommand: lint or test")
	}
	switch args[0] {
	case "lint":
		return runPolicyLint(e, args[1:])
	case "test":
		return runPolicyTest(ctx, e, args[1:])
	}
	return usageErr("unknown subcommand %q: use lint or test", args[0])
}

// runPolicyLint parses and compiles each policy file, prints its errors (exit 1) or its
// warnings (exit 0, or 1 with --strict).
func runPolicyLint(e env, args []string) error {
	fs := newFlags(e, "policy lint", "policy lint FILE... [--strict]")
	strict := fs.Bool("strict", false, "exit 1 on warnings too")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageErr("name at least one policy file")
	}
	var bad []string
	for _, f := range files {
		p, err := policy.Load(f)
		if err != nil {
			fmt.Fprintf(e.stdout, "%s: error: %v\n", f, err)
			bad = append(bad, f)
			continue
		}
		findings := policy.Lint(p)
		fmt.Fprintf(e.stdout, "%s: policy %s (%s): %d requirements, %d findings\n", f, p.Name(), p.Digest(), len(p.Requirements()), len(findings))
		for _, l := range findings {
			fmt.Fprintf(e.stdout, "  %s %s: %s\n", l.Severity, l.Path, l.Message)
			if *strict && l.Severity == policy.LintWarning {
				bad = append(bad, f)
			}
		}
	}
	if len(bad) > 0 {
		return denied("%d of %d policy files did not pass: %s", len(slices.Compact(bad)), len(files), strings.Join(slices.Compact(bad), ", "))
	}
	return nil
}

// policyEvidence is one envelope policy test considers.
type policyEvidence struct {
	Digest     string    `json:"digest"`
	RecordedAt time.Time `json:"recordedAt,omitzero"`
	Verified   bool      `json:"verified"`
	Error      string    `json:"error,omitempty"`
	envelope   []byte
}

// runPolicyTest evaluates a policy file over the evidence recorded for an image (from the
// ledger, or an exported bundle), verified here with the keys given, without promoting.
// Exit 0 when the policy allows, 1 when it denies.
func runPolicyTest(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "policy test", "policy test FILE --image REF@sha256:... --key custody.pub [--destination REPO] [--server URL | --bundle FILE] [-o table|json]")
	image := fs.String("image", "", "the image to evaluate, pinned by digest: `REF@sha256:...`")
	dest := fs.String("destination", "", "destination `REPO` to evaluate for (default: the policy's only destination, when it has no wildcard)")
	bundleFile := fs.String("bundle", "", "evaluate over the envelopes of an exported evidence bundle `FILE` instead of asking the ledger; "+
		"with no recorded times, key windows are checked now")
	var keys []string
	fs.Func("key", "trusted public key `FILE` (PEM) or trust file (.yaml) with validity windows (repeatable; required)",
		func(s string) error { keys = append(keys, s); return nil })
	output := fs.String("o", "table", "output `format`: table or json")
	server := serverFlag(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("name one policy file")
	}
	if *output != "table" && *output != "json" {
		return usageErr("-o %q: use table or json", *output)
	}
	if len(keys) == 0 {
		return usageErr("give --key with the public key(s) the evidence must be signed by (DATA/keys/custody.pub of custody dev)")
	}
	img, err := oci.ParsePinned(*image)
	if err != nil {
		return usageErr("--image: %v", err)
	}
	digest := img.DigestStr()
	pol, err := policy.Load(rest[0])
	if err != nil {
		return err
	}
	destination, err := testDestination(pol, *dest)
	if err != nil {
		return err
	}
	trusted, err := daemon.LoadTrustedKeys(strings.Join(keys, ","))
	if err != nil {
		return err
	}
	verifier, err := verify.NewVerifier(trusted)
	if err != nil {
		return err
	}

	var evidence []*policyEvidence
	if *bundleFile != "" {
		evidence, err = bundleEvidence(*bundleFile, digest)
	} else {
		evidence, err = ledgerEvidence(ctx, *server, fs.bearer(), digest)
	}
	if err != nil {
		return err
	}
	var results []*verify.Result
	for _, ev := range evidence {
		res, err := verifier.Verify(ctx, ev.envelope, digest, verify.SignedAt(ev.RecordedAt))
		if err != nil {
			ev.Error = err.Error()
			continue
		}
		ev.Verified = true
		results = append(results, res)
	}
	d := pol.Evaluate(ctx, policy.Input{Digest: digest, Destination: destination, Attestations: results, Now: time.Now()})

	if *output == "json" {
		doc := struct {
			Image       string            `json:"image"`
			Destination string            `json:"destination"`
			Decision    policy.Decision   `json:"decision"`
			Evidence    []*policyEvidence `json:"evidence"`
		}{img.String(), destination, d, evidence}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
	} else {
		printPolicyTest(e, pol, img.String(), destination, d, evidence)
	}
	if !d.Allowed {
		return &exitError{code: ExitDenied, err: errors.New("the policy denies this image")}
	}
	return nil
}

// testDestination is the destination policy test evaluates for.
func testDestination(pol *policy.Policy, given string) (string, error) {
	if given != "" {
		repo, _, err := oci.ParseDestination(given)
		if err != nil {
			return "", usageErr("--destination: %v", err)
		}
		return repo.Name(), nil
	}
	ds := pol.Destinations()
	if len(ds) == 1 && !strings.Contains(ds[0], "*") {
		return ds[0], nil
	}
	return "", usageErr("policy %s governs %s: name the repository with --destination", pol.Name(), strings.Join(ds, ", "))
}

// ledgerEvidence reads the image's envelopes from the ledger's bundle and their recorded
// times from its provenance answer.
func ledgerEvidence(ctx context.Context, server, token, digest string) ([]*policyEvidence, error) {
	c, err := newClient(server, token)
	if err != nil {
		return nil, err
	}
	var prov struct {
		Attestations []struct {
			EnvelopeDigest string `json:"envelopeDigest"`
			RecordedAt     string `json:"recordedAt"`
		} `json:"attestations"`
	}
	if err := c.do(ctx, "GET", "/v1/artifacts/"+digest+"/provenance", nil, &prov); err != nil {
		var api *apiError
		if errors.As(err, &api) && api.Status == 404 {
			return nil, nil
		}
		return nil, err
	}
	recorded := map[string]time.Time{}
	for _, a := range prov.Attestations {
		if t, err := time.Parse(time.RFC3339Nano, a.RecordedAt); err == nil {
			recorded[a.EnvelopeDigest] = t
		}
	}
	body, err := get(ctx, c, "/v1/artifacts/"+digest+"/bundle", "", bundle.MaxSize+1)
	if err != nil {
		return nil, err
	}
	b, err := bundle.Parse(bytes.TrimSuffix(body, []byte("\n")))
	if err != nil {
		return nil, fmt.Errorf("the server sent a bundle that does not parse: %w", err)
	}
	var out []*policyEvidence
	for _, a := range b.Attestations {
		d := blob.Digest(a.Envelope)
		t, ok := recorded[d]
		if !ok {
			// Only envelopes with the ledger's recorded time: without one, a key window
			// would be checked at the wrong time.
			continue
		}
		out = append(out, &policyEvidence{Digest: d, RecordedAt: t, envelope: a.Envelope})
	}
	return out, nil
}

// bundleEvidence reads the envelopes of an exported bundle about digest.
func bundleEvidence(path, digest string) ([]*policyEvidence, error) {
	data, err := readBounded(path, bundle.MaxSize)
	if err != nil {
		return nil, err
	}
	b, err := bundle.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if b.Digest != digest {
		return nil, fmt.Errorf("%s is the bundle of %s, not of %s", path, b.Digest, digest)
	}
	var out []*policyEvidence
	for _, a := range b.Attestations {
		out = append(out, &policyEvidence{Digest: blob.Digest(a.Envelope), envelope: a.Envelope})
	}
	return out, nil
}

func printPolicyTest(e env, pol *policy.Policy, image, destination string, d policy.Decision, evidence []*policyEvidence) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "policy %s (%s)\nimage %s\ndestination %s\n\n", pol.Name(), pol.Digest(), image, destination)
	fmt.Fprintln(w, "REQUIREMENT\tREQUIRED\tSTATUS\tCODE\tREASON")
	for _, r := range d.Requirements {
		req := "yes"
		if !r.Required {
			req = "no (reported only)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Name, req, r.Status, r.Code, r.Reason)
	}
	_ = w.Flush()
	if len(d.Requirements) == 0 {
		for _, r := range d.Reasons {
			fmt.Fprintf(e.stdout, "  %s\n", r)
		}
	}
	fmt.Fprintf(e.stdout, "\nevidence: %d envelopes\n", len(evidence))
	for _, ev := range evidence {
		state := "verified"
		if !ev.Verified {
			state = "REJECTED: " + ev.Error
		}
		fmt.Fprintf(e.stdout, "  %s %s\n", ev.Digest, state)
	}
	verdict := "DENIED"
	if d.Allowed {
		verdict = "ALLOWED"
	}
	fmt.Fprintf(e.stdout, "\ndecision: %s\n", verdict)
}

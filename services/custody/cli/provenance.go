package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
)

var digestRE = regexp.MustCompile(`sha256:[a-f0-9]{64}$`)

// parseDigest parses args with fs, for a command that takes one image by digest
// (REF@sha256:<hex> or sha256:<hex>) and flags, and returns the image's digest. Flags
// that do not parse, or arguments that are not exactly one such image, are a usage error.
func parseDigest(fs *cmdFlags, args []string) (string, error) {
	rest, err := parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(rest) != 1 {
		return "", usageErr("name exactly one image by digest (REF@sha256:... or sha256:...)")
	}
	digest := digestRE.FindString(rest[0])
	if digest == "" || (rest[0] != digest && !strings.HasSuffix(rest[0], "@"+digest)) {
		return "", usageErr("%q does not end in a sha256 digest", rest[0])
	}
	return digest, nil
}

// provenanceDoc is the part of GET /v1/artifacts/{digest}/provenance the table shows.
type provenanceDoc struct {
	Digest string `json:"digest"`
	Image  string `json:"image"`
	Build  *struct {
		Image            string `json:"image"`
		SourceRepository string `json:"sourceRepository"`
		Commit           string `json:"commit"`
		BuilderID        string `json:"builderId"`
		BuildType        string `json:"buildType"`
		FinishedAt       string `json:"finishedAt"`
	} `json:"build"`
	Attestations []struct {
		PredicateType  string   `json:"predicateType"`
		KeyIDs         []string `json:"keyIds"`
		EnvelopeDigest string   `json:"envelopeDigest"`
		RecordedAt     string   `json:"recordedAt"`
		LogIndex       int64    `json:"logIndex"`
	} `json:"attestations"`
	Scans []struct {
		Status       string `json:"status"`
		PackageCount int    `json:"packageCount"`
		SBOMDigest   string `json:"sbomDigest"`
	} `json:"scans"`
	Decisions []struct {
		RequestID    string   `json:"requestId"`
		Destination  string   `json:"destination"`
		Decision     string   `json:"decision"`
		Reasons      []string `json:"reasons"`
		PolicyDigest string   `json:"policyDigest"`
		DecidedAt    string   `json:"decidedAt"`
		LogIndex     int64    `json:"logIndex"`
	} `json:"decisions"`
	Promotions []struct {
		RequestID        string `json:"requestId"`
		Destination      string `json:"destination"`
		DestinationImage string `json:"destinationImage"`
		Status           string `json:"status"`
		Error            string `json:"error"`
	} `json:"promotions"`
	Timeline []struct {
		Time    string `json:"time"`
		Type    string `json:"type"`
		Source  string `json:"source"`
		TraceID string `json:"traceId"`
	} `json:"timeline"`
}

func runProvenance(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "provenance", "provenance REF@sha256:...|sha256:... [-o table|json]")
	output := fs.String("o", "table", "output `format`: table or json")
	server := serverFlag(fs)
	digest, err := parseDigest(fs, args)
	if err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return usageErr("-o %q: use table or json", *output)
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/artifacts/"+digest+"/provenance", nil, &raw); err != nil {
		return err
	}
	if *output == "json" {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("server sent invalid JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := buf.WriteTo(e.stdout)
		return err
	}
	var doc provenanceDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("decode provenance: %w", err)
	}
	return printProvenance(e.stdout, &doc)
}

func printProvenance(w io.Writer, d *provenanceDoc) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ARTIFACT\t%s\n", d.Digest)
	if d.Build != nil {
		fmt.Fprintf(tw, "IMAGE\t%s\n", d.Build.Image)
		fmt.Fprintf(tw, "SOURCE\t%s @ %s\n", d.Build.SourceRepository, d.Build.Commit)
		fmt.Fprintf(tw, "BUILDER\t%s\n", d.Build.BuilderID)
	} else {
		fmt.Fprintf(tw, "BUILD\t(no build event recorded)\n")
	}
	tw.Flush()
	section(w, "ATTESTATIONS", len(d.Attestations))
	for _, a := range d.Attestations {
		fmt.Fprintf(tw, "  %s\tkey %s\tenvelope %s\t%s\n", a.PredicateType, short(strings.Join(a.KeyIDs, ",")), short(a.EnvelopeDigest), logPosition(a.LogIndex))
	}
	tw.Flush()
	section(w, "SCANS", len(d.Scans))
	for _, s := range d.Scans {
		fmt.Fprintf(tw, "  %s\t%d packages\tsbom %s\n", s.Status, s.PackageCount, short(s.SBOMDigest))
	}
	tw.Flush()
	section(w, "DECISIONS", len(d.Decisions))
	for _, x := range d.Decisions {
		fmt.Fprintf(tw, "  %s\t%s\tpolicy %s\t%s\t%s\n", strings.ToUpper(x.Decision), x.Destination, short(x.PolicyDigest), x.DecidedAt, logPosition(x.LogIndex))
		for _, r := range x.Reasons {
			fmt.Fprintf(tw, "    - %s\n", r)
		}
	}
	tw.Flush()
	section(w, "PROMOTIONS", len(d.Promotions))
	for _, p := range d.Promotions {
		target := p.DestinationImage
		if target == "" {
			target = p.Destination
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Status, target, p.Error)
	}
	tw.Flush()
	section(w, "TIMELINE", len(d.Timeline))
	for _, t := range d.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\ttrace %s\n", t.Time, t.Type, t.Source, short(t.TraceID))
	}
	return tw.Flush()
}

func section(w io.Writer, name string, n int) {
	fmt.Fprintf(w, "\n%s (%d)\n", name, n)
}

func short(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 16 {
		return s[:16]
	}
	if s == "" {
		return "-"
	}
	return s
}

// logPosition shows an entry's place in the ledger's append-only log.
func logPosition(i int64) string {
	if i < 0 {
		return "not in the log"
	}
	return fmt.Sprintf("log #%d", i)
}

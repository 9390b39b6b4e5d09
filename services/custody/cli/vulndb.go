package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/custody-dev/custody/pkg/vuln"
)

// vulndbImportReport is `custody vulndb import -o json`.
type vulndbImportReport struct {
	Path      string `json:"path"`
	Records   int    `json:"records"`
	Batches   int    `json:"batches"`
	Inserted  int    `json:"inserted"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Rejected  int    `json:"rejected"`
}

func runVulnDB(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "import":
			return runVulnDBImport(ctx, e, args[1:])
		case "status":
			return runVulnDBStatus(ctx, e, args[1:])
		}
	}
	return usageErr("say what to do: `custody vulndb import PATH` (a directory of OSV .json files or OSV's all.zip) or `custody vulndb status`")
}

func runVulnDBImport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "vulndb import", "vulndb import PATH [--server URL] [--batch N] [-o table|json]")
	server := serverFlag(fs)
	output := fs.String("o", "table", "output `format`: table or json")
	batch := fs.Int("batch", 500, "records sent per request (1-1000)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("name exactly one PATH: a directory of OSV .json files, an OSV all.zip, or one .json record")
	}
	if *output != "table" && *output != "json" {
		return usageErr("-o %q: use table or json", *output)
	}
	if *batch < 1 || *batch > vuln.MaxImportBatch {
		return usageErr("--batch %d: use 1-%d", *batch, vuln.MaxImportBatch)
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	c.hc.Timeout = 5 * time.Minute // a batch may hold a few large records
	report := vulndbImportReport{Path: rest[0]}
	var pending [][]byte
	var names []string
	send := func() error {
		if len(pending) == 0 {
			return nil
		}
		res, err := sendVulnBatch(ctx, c, pending)
		if err != nil {
			return fmt.Errorf("import %s: batch %d (from %s): %w", rest[0], report.Batches+1, names[0], err)
		}
		report.Batches++
		report.Inserted += res.Inserted
		report.Updated += res.Updated
		report.Unchanged += res.Unchanged
		report.Rejected += res.Rejected
		if res.Rejected > 0 {
			first := "(no reason given)"
			if len(res.Errors) > 0 {
				first = res.Errors[0]
			}
			return fmt.Errorf("import %s: the ledger rejected %d record(s) of batch %d; first: %s", rest[0], res.Rejected, report.Batches, first)
		}
		pending, names = pending[:0], names[:0]
		return nil
	}
	// Records are parsed here too (vuln.Load), so a bad file stops the import before
	// it is sent, with its name; the ledger parses every record again.
	err = vuln.Load(rest[0], func(raw []byte, rec *vuln.Record) error {
		report.Records++
		pending = append(pending, raw)
		names = append(names, rec.ID)
		if len(pending) >= *batch {
			return send()
		}
		return nil
	})
	if err == nil {
		err = send()
	}
	if perr := printVulnImport(e.stdout, *output, &report); perr != nil {
		return perr
	}
	return err
}

// sendVulnBatch posts raw records as one JSON array, byte for byte.
func sendVulnBatch(ctx context.Context, c *client, raws [][]byte) (vuln.ImportResult, error) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, r := range raws {
		if i > 0 {
			body.WriteString(",\n")
		}
		body.Write(r)
	}
	body.WriteByte(']')
	var res vuln.ImportResult
	err := c.doRaw(ctx, http.MethodPost, vuln.PathRecords, body.Bytes(), &res)
	return res, err
}

func printVulnImport(w io.Writer, output string, r *vulndbImportReport) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RECORDS\tINSERTED\tUPDATED\tUNCHANGED\tREJECTED\tBATCHES\n")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\n", r.Records, r.Inserted, r.Updated, r.Unchanged, r.Rejected, r.Batches)
	return tw.Flush()
}

func runVulnDBStatus(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "vulndb status", "vulndb status [--server URL] [-o table|json]")
	server := serverFlag(fs)
	output := fs.String("o", "table", "output `format`: table or json")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageErr("vulndb status takes no arguments")
	}
	if *output != "table" && *output != "json" {
		return usageErr("-o %q: use table or json", *output)
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	var st vuln.DBStatus
	if err := c.do(ctx, http.MethodGet, vuln.PathDB, nil, &st); err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	stamp := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(e.stdout, "records          %d\nnewest modified  %s\nlast update      %s\n\n",
		st.Records, stamp(st.NewestModified), stamp(st.LastUpdate))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ECOSYSTEM\tRECORDS\n")
	for _, eco := range st.Ecosystems {
		fmt.Fprintf(tw, "%s\t%d\n", eco.Ecosystem, eco.Records)
	}
	return tw.Flush()
}

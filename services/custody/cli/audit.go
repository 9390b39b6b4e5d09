package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
)

// What the auditors' commands (artifacts, affected, decisions) share: the generated
// Connect client of the ledger's audit API, its errors as the user reads them, paging
// flags, times and JSON output.

// audit returns the audit API's generated client on the client's server, over the same
// HTTP client (timeout, bearer token) as the REST calls.
func (c *client) audit() auditv1connect.AuditServiceClient {
	return auditv1connect.NewAuditServiceClient(c.hc, strings.TrimSuffix(c.base.String(), "/"))
}

// auditError says what an audit API failure means and what to do about it.
func (c *client) auditError(rpc string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return fmt.Errorf("cannot reach Custody at %s (is `custody dev` running?): %v", c.base.Redacted(), op.Err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", rpc, err)
	}
	msg := ce.Message()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	detail := ""
	if msg != "" {
		detail = " (" + msg + ")"
	}
	switch ce.Code() {
	case connect.CodeUnimplemented:
		return fmt.Errorf("the Custody server at %s does not offer %s yet (%s: %s): upgrade the ledger; "+
			"`custody provenance REF@sha256:...` answers for one artifact", c.base.Redacted(), rpc, ce.Code(), msg)
	case connect.CodeUnauthenticated:
		return fmt.Errorf("%s: the server wants a valid token%s: set CUSTODY_TOKEN or pass --token", rpc, detail)
	case connect.CodePermissionDenied:
		return fmt.Errorf("%s: the token may not do this%s: ask for the auditor role, or a scope that covers it", rpc, detail)
	case connect.CodeInvalidArgument:
		return usageErr("%s: the server refused the request: %s", rpc, msg)
	}
	return fmt.Errorf("%s: server answered %s: %s", rpc, ce.Code(), msg)
}

// pageFlags are --limit, --page-token and --all.
type pageFlags struct {
	limit *int
	token *string
	all   *bool
}

func addPageFlags(fs *cmdFlags, what string) pageFlags {
	return pageFlags{
		limit: fs.Int("limit", 0, "the most "+what+" per page, 1-500 (default the server's, 50)"),
		token: fs.String("page-token", "", "start at this page: the `TOKEN` a previous answer gave as next page"),
		all:   fs.Bool("all", false, "walk every page (from --page-token, if given) and print them as one list"),
	}
}

func (p pageFlags) check() error {
	if *p.limit < 0 || *p.limit > 500 {
		return usageErr("--limit %d: give 1-500", *p.limit)
	}
	return nil
}

// maxPages bounds --all, so that a server that never ends its pages cannot keep the
// command running for ever.
const maxPages = 10000

// walk calls fetch with the first page token, then, with --all, with each next page
// token until the last page. It returns the token of the page after the last one
// fetched ("" when that was the last).
func (p pageFlags) walk(fetch func(token string) (next string, err error)) (string, error) {
	token := *p.token
	seen := map[string]bool{}
	for range maxPages {
		next, err := fetch(token)
		if err != nil {
			return "", err
		}
		if next == "" || !*p.all {
			return next, nil
		}
		if seen[next] {
			return "", fmt.Errorf("the server gave page token %q twice: stopping rather than looping", truncate(next, 40))
		}
		seen[next] = true
		token = next
	}
	return "", fmt.Errorf("stopped after %d pages: narrow the query", maxPages)
}

// morePages tells the user how to get the next page.
func morePages(w io.Writer, next string) {
	if next != "" {
		fmt.Fprintf(w, "more: --page-token %s (or --all)\n", next)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseWhen reads --since/--until: RFC 3339, a date (YYYY-MM-DD, UTC midnight), or a
// duration before now (72h). Empty is nil.
func parseWhen(flagName, s string, now time.Time) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return timestamppb.New(t), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return timestamppb.New(t), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return timestamppb.New(now.Add(-d)), nil
	}
	return nil, usageErr("%s %q: give a time (2026-03-01T12:00:00Z), a date (2026-03-01) or a duration before now (72h)", flagName, s)
}

// printAuditJSON writes an audit API message as the API's JSON, indented.
func printAuditJSON(w io.Writer, m proto.Message) error {
	out, err := ledgersvc.AuditJSON(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = buf.WriteTo(w)
	return err
}

// checkOutput refuses -o values other than table and json.
func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usageErr("-o %q: use table or json", o)
	}
	return nil
}

// word shows an enum value as a word: VERDICT_ALLOWED is "allowed", unspecified "-".
func word(name, prefix string) string {
	w := strings.ToLower(strings.TrimPrefix(name, prefix))
	if w == "unspecified" || w == "" {
		return "-"
	}
	return w
}

// when shows a time in a table.
func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// orDash shows an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withoutDigest drops "@sha256:..." from a reference shown next to its digest.
func withoutDigest(ref string) string {
	if i := strings.LastIndex(ref, "@sha256:"); i > 0 {
		return ref[:i]
	}
	return orDash(ref)
}

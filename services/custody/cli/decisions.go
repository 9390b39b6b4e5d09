package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"

	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

func runDecisions(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "decisions", "decisions [REF@sha256:...|sha256:...] [--destination REPO] [--verdict allowed|denied] "+
		"[--policy-digest sha256:...] [--since T] [--until T] [-o table|json] | decisions --request ID")
	requestID := fs.String("request", "", "show the decision of one promotion request `ID` (no other filter)")
	dest := fs.String("destination", "", "only decisions about promotions to this `REPO`")
	verdict := fs.String("verdict", "", "only decisions with this `VERDICT`: allowed or denied")
	policy := fs.String("policy-digest", "", "only decisions under the policy with this `DIGEST` (sha256:...)")
	since := fs.String("since", "", "only decisions made at or after `T` (RFC 3339, YYYY-MM-DD, or a duration before now such as 72h)")
	until := fs.String("until", "", "only decisions made before `T`")
	output := fs.String("o", "table", "output `format`: table or json")
	pages := addPageFlags(fs, "decisions")
	server := serverFlag(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := errorsOf(checkOutput(*output), pages.check()); err != nil {
		return err
	}
	req := &auditv1.ListDecisionsRequest{Destination: *dest, PolicyDigest: *policy, PageSize: int32(*pages.limit)}
	switch len(rest) {
	case 0:
	case 1:
		d := digestRE.FindString(rest[0])
		if d == "" || (rest[0] != d && !strings.HasSuffix(rest[0], "@"+d)) {
			return usageErr("%q does not end in a sha256 digest: name the image as REF@sha256:... or sha256:...", rest[0])
		}
		req.Artifact = rest[0]
	default:
		return usageErr("name at most one image by digest")
	}
	switch *verdict {
	case "":
	case "allowed":
		req.Verdict = auditv1.Verdict_VERDICT_ALLOWED
	case "denied":
		req.Verdict = auditv1.Verdict_VERDICT_DENIED
	default:
		return usageErr("--verdict %q: use allowed or denied", *verdict)
	}
	now := time.Now()
	if req.Since, err = parseWhen("--since", *since, now); err != nil {
		return err
	}
	if req.Until, err = parseWhen("--until", *until, now); err != nil {
		return err
	}
	if *requestID != "" && (len(rest) > 0 || *dest != "" || *verdict != "" || *policy != "" || *since != "" || *until != "" ||
		*pages.token != "" || *pages.all) {
		return usageErr("--request shows one decision: give it alone")
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	if *requestID != "" {
		resp, err := c.audit().GetDecision(ctx, connect.NewRequest(&auditv1.GetDecisionRequest{RequestId: *requestID}))
		if err != nil {
			return c.auditError("GetDecision", err)
		}
		if *output == "json" {
			return printAuditJSON(e.stdout, resp.Msg)
		}
		printDecisions(e.stdout, []*auditv1.Decision{resp.Msg.GetDecision()})
		return nil
	}
	all := &auditv1.ListDecisionsResponse{Decisions: []*auditv1.Decision{}}
	next, err := pages.walk(func(token string) (string, error) {
		req.PageToken = token
		resp, err := c.audit().ListDecisions(ctx, connect.NewRequest(req))
		if err != nil {
			return "", c.auditError("ListDecisions", err)
		}
		all.Decisions = append(all.Decisions, resp.Msg.GetDecisions()...)
		return resp.Msg.GetNextPageToken(), nil
	})
	if err != nil {
		return err
	}
	all.NextPageToken = next
	if *output == "json" {
		return printAuditJSON(e.stdout, all)
	}
	printDecisions(e.stdout, all.GetDecisions())
	morePages(e.stderr, next)
	return nil
}

// printDecisions shows each decision on a line, its reasons under it.
func printDecisions(w io.Writer, list []*auditv1.Decision) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DECIDED\tVERDICT\tDESTINATION\tARTIFACT\tPOLICY\tREQUEST\tLOG")
	for _, d := range list {
		policy := short(d.GetPolicyDigest())
		if d.GetPolicyName() != "" {
			policy = d.GetPolicyName() + " " + policy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when(d.GetDecidedAt()), strings.ToUpper(word(d.GetVerdict().String(), "VERDICT_")),
			orDash(d.GetDestination()), short(d.GetDigest()), policy, orDash(d.GetRequestId()), logPosition(d.GetLogIndex()))
		for _, r := range d.GetReasons() {
			fmt.Fprintf(tw, "  - %s\n", r)
		}
	}
	tw.Flush()
}

package cli

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"

	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

func runArtifacts(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		return usageErr("say what to do: `custody artifacts list [filters]`")
	}
	return runArtifactsList(ctx, e, args[1:])
}

// artifactStatuses are --status's words.
var artifactStatuses = map[string]auditv1.ArtifactStatus{
	"promoted": auditv1.ArtifactStatus_ARTIFACT_STATUS_PROMOTED, "denied": auditv1.ArtifactStatus_ARTIFACT_STATUS_DENIED,
	"allowed": auditv1.ArtifactStatus_ARTIFACT_STATUS_ALLOWED, "pending": auditv1.ArtifactStatus_ARTIFACT_STATUS_PENDING,
	"failed": auditv1.ArtifactStatus_ARTIFACT_STATUS_FAILED,
}

func runArtifactsList(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "artifacts list", "artifacts list [--source-repository URL] [--commit SHA] [--builder ID] "+
		"[--since T] [--until T] [--destination REPO] [--status promoted|denied|allowed|pending|failed] [-o table|json]")
	repo := fs.String("source-repository", "", "only artifacts built from this source repository `URL`")
	commit := fs.String("commit", "", "only artifacts built from this `COMMIT`")
	builder := fs.String("builder", "", "only artifacts built by this builder `ID`")
	since := fs.String("since", "", "only artifacts built at or after `T` (RFC 3339, YYYY-MM-DD, or a duration before now such as 72h)")
	until := fs.String("until", "", "only artifacts built before `T`")
	dest := fs.String("destination", "", "only artifacts with a promotion request to this `REPO`")
	status := fs.String("status", "", "only artifacts in this `STATUS`: promoted, denied, allowed, pending or failed")
	output := fs.String("o", "table", "output `format`: table or json")
	pages := addPageFlags(fs, "artifacts")
	server := serverFlag(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageErr("artifacts list takes filters as flags, not %q", rest[0])
	}
	if err := errorsOf(checkOutput(*output), pages.check()); err != nil {
		return err
	}
	req := &auditv1.ListArtifactsRequest{SourceRepository: *repo, Commit: *commit, BuilderId: *builder, Destination: *dest,
		PageSize: int32(*pages.limit)}
	if *status != "" {
		st, ok := artifactStatuses[*status]
		if !ok {
			return usageErr("--status %q: use promoted, denied, allowed, pending or failed", *status)
		}
		req.Status = st
	}
	now := time.Now()
	if req.Since, err = parseWhen("--since", *since, now); err != nil {
		return err
	}
	if req.Until, err = parseWhen("--until", *until, now); err != nil {
		return err
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	all := &auditv1.ListArtifactsResponse{Artifacts: []*auditv1.ArtifactSummary{}}
	next, err := pages.walk(func(token string) (string, error) {
		req.PageToken = token
		resp, err := c.audit().ListArtifacts(ctx, connect.NewRequest(req))
		if err != nil {
			return "", c.auditError("ListArtifacts", err)
		}
		all.Artifacts = append(all.Artifacts, resp.Msg.GetArtifacts()...)
		return resp.Msg.GetNextPageToken(), nil
	})
	if err != nil {
		return err
	}
	all.NextPageToken = next
	if *output == "json" {
		return printAuditJSON(e.stdout, all)
	}
	printArtifacts(e.stdout, all.GetArtifacts())
	morePages(e.stderr, next)
	return nil
}

func printArtifacts(w io.Writer, list []*auditv1.ArtifactSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tIMAGE\tSOURCE\tBUILT\tSTATUS\tSCAN\tVERDICT\tPROMOTED TO")
	for _, a := range list {
		source := "-"
		if a.GetSourceRepository() != "" {
			source = a.GetSourceRepository() + " @ " + truncate(orDash(a.GetCommit()), 12)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", short(a.GetDigest()), withoutDigest(a.GetImage()), source,
			when(a.GetBuiltAt()), word(a.GetStatus().String(), "ARTIFACT_STATUS_"), word(a.GetScanStatus().String(), "SCAN_STATUS_"),
			word(a.GetVerdict().String(), "VERDICT_"), orDash(strings.Join(a.GetPromotedImages(), ", ")))
	}
	tw.Flush()
}

// vulnIDRE is what a vulnerability id looks like (CVE-2024-1234, GHSA-xxxx-xxxx-xxxx,
// PYSEC-..., GO-..., DSA-...).
var vulnIDRE = regexp.MustCompile(`^[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]{1,120}$`)

func runAffected(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "affected", "affected CVE-...|GHSA-...|pkg:TYPE/NAME[@VERSION] | --ecosystem E --name N [--range R] "+
		"[--promoted-only] [-o table|json]")
	ecosystem := fs.String("ecosystem", "", "package `ECOSYSTEM` as OSV names it (npm, PyPI, Go, Debian, ...), with --name")
	name := fs.String("name", "", "package `NAME`, with --ecosystem")
	versions := fs.String("range", "", "package versions, such as `\">=1.2.0,<1.4.3\"` or one exact version (default every version)")
	promotedOnly := fs.Bool("promoted-only", false, "only artifacts that were promoted somewhere")
	output := fs.String("o", "table", "output `format`: table or json")
	pages := addPageFlags(fs, "artifacts")
	server := serverFlag(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := errorsOf(checkOutput(*output), pages.check()); err != nil {
		return err
	}
	req := &auditv1.ListAffectedRequest{PromotedOnly: *promotedOnly, PageSize: int32(*pages.limit)}
	byPackage := *ecosystem != "" || *name != "" || *versions != ""
	switch {
	case len(rest) > 1:
		return usageErr("name one vulnerability or package URL, not %d", len(rest))
	case len(rest) == 1 && byPackage:
		return usageErr("give %q or --ecosystem/--name/--range, not both", rest[0])
	case len(rest) == 1 && strings.HasPrefix(rest[0], "pkg:"):
		req.Query = &auditv1.ListAffectedRequest_Purl{Purl: rest[0]}
	case len(rest) == 1 && vulnIDRE.MatchString(rest[0]):
		req.Query = &auditv1.ListAffectedRequest_VulnerabilityId{VulnerabilityId: rest[0]}
	case len(rest) == 1:
		return usageErr("%q is neither a vulnerability id (CVE-..., GHSA-...) nor a package URL (pkg:...)", rest[0])
	case byPackage && (*ecosystem == "" || *name == ""):
		return usageErr("--ecosystem and --name go together")
	case byPackage:
		req.Query = &auditv1.ListAffectedRequest_Package{Package: &auditv1.PackageQuery{Ecosystem: *ecosystem, Name: *name, VersionRange: *versions}}
	default:
		return usageErr("name a vulnerability (CVE-..., GHSA-...), a package URL (pkg:...), or --ecosystem and --name")
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	all := &auditv1.ListAffectedResponse{Artifacts: []*auditv1.AffectedArtifact{}}
	next, err := pages.walk(func(token string) (string, error) {
		req.PageToken = token
		resp, err := c.audit().ListAffected(ctx, connect.NewRequest(req))
		if err != nil {
			return "", c.auditError("ListAffected", err)
		}
		all.Artifacts = append(all.Artifacts, resp.Msg.GetArtifacts()...)
		return resp.Msg.GetNextPageToken(), nil
	})
	if err != nil {
		return err
	}
	all.NextPageToken = next
	if *output == "json" {
		return printAuditJSON(e.stdout, all)
	}
	printAffected(e.stdout, all.GetArtifacts())
	promoted := 0
	for _, a := range all.GetArtifacts() {
		if a.GetPromoted() {
			promoted++
		}
	}
	fmt.Fprintf(e.stderr, "%d affected artifacts, %d of them promoted\n", len(all.GetArtifacts()), promoted)
	morePages(e.stderr, next)
	return nil
}

func printAffected(w io.Writer, list []*auditv1.AffectedArtifact) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tIMAGE\tPACKAGE\tVERSION\tVULNERABILITY\tFIXED IN\tPROMOTED TO")
	for _, a := range list {
		var where []string
		for _, p := range a.GetPromotions() {
			where = append(where, orDash(p.GetDestinationImage()))
		}
		promoted := "-"
		if a.GetPromoted() {
			promoted = orDash(strings.Join(where, ", "))
		}
		for _, m := range a.GetMatches() {
			pkg := m.GetPurl()
			if pkg == "" {
				pkg = m.GetEcosystem() + "/" + m.GetName()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", short(a.GetDigest()), withoutDigest(a.GetImage()), pkg,
				orDash(m.GetVersion()), orDash(m.GetVulnerabilityId()), orDash(strings.Join(m.GetFixedVersions(), ", ")), promoted)
		}
	}
	tw.Flush()
}

// errorsOf returns the first non-nil error.
func errorsOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

package cli

import (
	"context"
	"fmt"
	"strings"
	"time"
)

func runEvent(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "build" {
		return usageErr("say which event: `custody event build --image REF@sha256:... --source-repo URL --commit SHA`")
	}
	fs := newFlags(e, "event build", "event build --image REF@sha256:... --source-repo URL --commit SHA [flags]")
	image := fs.String("image", "", "built image, pinned by digest (`REF@sha256:...`)")
	repo := fs.String("source-repo", "", "source repository `URL`")
	commit := fs.String("commit", "", "source commit `SHA`")
	builder := fs.String("builder-id", "urn:custody:builder:dev", "builder identity `URI`")
	buildType := fs.String("build-type", "", "build type `URI` (default: the generic Custody build type)")
	invocation := fs.String("invocation-id", "", "the pipeline run's `ID`")
	ref := fs.String("source-ref", "", "source `REF` built (branch or tag)")
	started := fs.String("started", "", "build start `TIME` (RFC 3339)")
	finished := fs.String("finished", "", "build finish `TIME` (RFC 3339; default now)")
	server := serverFlag(fs)
	rest, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	if *image == "" || *repo == "" || *commit == "" {
		return usageErr("--image, --source-repo and --commit are required")
	}
	if !strings.Contains(*image, "@sha256:") {
		return usageErr("--image %q is not pinned by digest: Custody promotes by digest only; use REF@sha256:<hex>", *image)
	}
	if *finished == "" {
		*finished = time.Now().UTC().Format(time.RFC3339)
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	body := map[string]string{
		"image": *image, "sourceRepository": *repo, "commit": *commit, "builderId": *builder,
	}
	for k, v := range map[string]string{"buildType": *buildType, "invocationId": *invocation, "sourceRef": *ref, "startedOn": *started, "finishedOn": *finished} {
		if v != "" {
			body[k] = v
		}
	}
	var out struct {
		ID        string `json:"id"`
		Digest    string `json:"digest"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := c.do(ctx, "POST", "/v1/events/build", body, &out); err != nil {
		return err
	}
	note := ""
	if out.Duplicate {
		note = " (already published; de-duplicated)"
	}
	fmt.Fprintf(e.stdout, "published build event %s for %s%s\n", out.ID, out.Digest, note)
	return nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// promotionStatus is GET /v1/promotions/{id}.
type promotionStatus struct {
	RequestID        string   `json:"requestId"`
	Digest           string   `json:"digest"`
	Destination      string   `json:"destination"`
	Status           string   `json:"status"`
	Reasons          []string `json:"reasons"`
	DestinationImage string   `json:"destinationImage"`
	Error            string   `json:"error"`
}

func runPromote(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "promote", "promote REF@sha256:...|REF:TAG --to REPO[:TAG] [--wait] [--timeout 60s]")
	to := fs.String("to", "", "destination `REPO[:TAG]`")
	wait := fs.Bool("wait", false, "wait for the decision and the copy; exit 1 if denied")
	timeout := fs.Duration("timeout", 60*time.Second, "how long --wait waits")
	server := serverFlag(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("name exactly one image, by digest (REF@sha256:...) or by tag (resolved once by the server, then pinned)")
	}
	image := rest[0]
	if *to == "" {
		return usageErr("--to is required")
	}
	if strings.Contains(*to, "@") {
		return usageErr("--to %q: name a repository and optional tag, not a digest", *to)
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	var req struct {
		RequestID    string `json:"requestId"`
		Image        string `json:"image"`
		Digest       string `json:"digest"`
		ResolvedFrom string `json:"resolvedFrom"`
	}
	if err := c.do(ctx, "POST", "/v1/promotions", map[string]string{"image": image, "destination": *to}, &req); err != nil {
		return err
	}
	if req.ResolvedFrom != "" {
		// Everything from here on acts on this digest, wherever the tag moves.
		image = req.Image
		fmt.Fprintf(e.stderr, "resolved %s to %s\n", req.ResolvedFrom, image)
	}
	if !*wait {
		fmt.Fprintf(e.stdout, "promotion requested: %s\n", req.RequestID)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var st promotionStatus
	for {
		err := c.do(ctx, "GET", "/v1/promotions/"+req.RequestID, nil, &st)
		var ae *apiError
		switch {
		case err == nil:
		case errors.As(err, &ae) && ae.Status == 404:
			st.Status = "requested"
		case ctx.Err() != nil:
		default:
			return err
		}
		switch st.Status {
		case "completed":
			fmt.Fprintf(e.stdout, "promoted %s\n  to %s\n", image, st.DestinationImage)
			for _, r := range st.Reasons {
				fmt.Fprintf(e.stdout, "  - %s\n", r)
			}
			return nil
		case "denied":
			fmt.Fprintf(e.stdout, "denied: %s was not promoted to %s\n", image, *to)
			for _, r := range st.Reasons {
				fmt.Fprintf(e.stdout, "  - %s\n", r)
			}
			return denied("promotion %s denied by policy", req.RequestID)
		case "failed":
			return fmt.Errorf("promotion %s was allowed but failed: %s", req.RequestID, st.Error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("promotion %s: no outcome within %s (last status %q); check `custody provenance %s`",
				req.RequestID, *timeout, st.Status, image)
		case <-tick.C:
		}
	}
}

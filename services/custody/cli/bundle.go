package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/verify"
)

func runBundle(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageErr("name a subcommand: export or verify")
	}
	switch args[0] {
	case "export":
		return runBundleExport(ctx, e, args[1:])
	case "verify":
		return runBundleVerify(ctx, e, args[1:])
	}
	return usageErr("unknown subcommand %q: use export or verify", args[0])
}

// runBundleExport fetches the digest's evidence bundle from the ledger and writes it,
// indented, to a file or stdout. It checks the bundle's shape, not its evidence: that
// is `custody bundle verify`, offline, with keys the auditor trusts.
func runBundleExport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "bundle export", "bundle export REF@sha256:...|sha256:... [-o bundle.json]")
	out := fs.String("o", "", "write the bundle to `FILE` (default stdout)")
	server := serverFlag(fs)
	digest, err := parseDigest(fs, args)
	if err != nil {
		return err
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	body, err := get(ctx, c, "/v1/artifacts/"+digest+"/bundle", "", bundle.MaxSize+1)
	if err != nil {
		return err
	}
	b, err := bundle.Parse(bytes.TrimSuffix(body, []byte("\n")))
	if err != nil {
		return fmt.Errorf("the server sent a bundle that does not parse: %w", err)
	}
	if b.Digest != digest {
		return fmt.Errorf("the server sent the bundle of %s, not of %s", b.Digest, digest)
	}
	var doc bytes.Buffer
	if err := json.Indent(&doc, bytes.TrimSuffix(body, []byte("\n")), "", "  "); err != nil {
		return fmt.Errorf("indent bundle: %w", err)
	}
	doc.WriteByte('\n')
	if *out == "" {
		_, err := doc.WriteTo(e.stdout)
		return err
	}
	if err := os.WriteFile(*out, doc.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s: %d envelopes, %d decisions, %d promotions of %s\n",
		*out, len(b.Attestations), len(b.Decisions), len(b.Promotions), digest)
	return nil
}

// runBundleVerify verifies a bundle file with no server and no network: exit 0 when
// everything in it verifies, 1 when anything does not (naming what), 2 when the
// command cannot run (flags, unreadable files, keys that do not parse).
func runBundleVerify(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "bundle verify", "bundle verify bundle.json --key custody.pub [--key gate.pub] [--log-key log.pub] [-o text|json]")
	var keyFiles []string
	fs.Func("key", "a trusted public key `FILE` (PEM; repeatable): the signing key (DATA/keys/custody.pub of custody dev) "+
		"and the gate's decision key (DATA/keys/gate.pub), which signs the decisions' VSAs",
		func(s string) error { keyFiles = append(keyFiles, s); return nil })
	logKeyFile := fs.String("log-key", "", "the ledger log's verifier key `FILE` (DATA/keys/log.pub); without it the "+
		"log key the bundle carries is used, which proves nothing about the log")
	output := fs.String("o", "text", "output `format`: text or json")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || len(keyFiles) == 0 {
		return usageErr("give one bundle file and --key FILE")
	}
	if *output != "text" && *output != "json" {
		return usageErr("-o %q: use text or json", *output)
	}
	data, err := readBounded(rest[0], bundle.MaxSize)
	if err != nil {
		return err
	}
	var keys []verify.TrustedKey
	for _, f := range keyFiles {
		pub, err := readBounded(f, 64<<10)
		if err != nil {
			return err
		}
		key, err := verify.ParseTrustedKeyPEM(f, pub)
		if err != nil {
			return err
		}
		keys = append(keys, key)
	}
	opt := bundle.WithBundleLogKeyUnsafe()
	if *logKeyFile != "" {
		vkey, err := readBounded(*logKeyFile, 64<<10)
		if err != nil {
			return err
		}
		opt = bundle.WithLogKey(string(vkey))
	}
	b, err := bundle.Parse(data)
	if err != nil {
		return denied("%s: %v", rest[0], err)
	}
	res, err := bundle.Verify(ctx, b, keys, opt)
	var failure *bundle.Failure
	switch {
	case errors.As(err, &failure):
		return denied("%s: %v", rest[0], err)
	case err != nil:
		return err
	}
	if *output == "json" {
		out, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(append(out, '\n'))
		return err
	}
	printBundleResult(e.stdout, rest[0], res)
	if !res.LogKeyPinned {
		fmt.Fprintln(e.stderr, "warning: the checkpoint was checked with the log key the bundle carries, which anyone "+
			"editing the file could replace; only the envelope signatures are proven. Pass --log-key to check the log.")
	}
	return nil
}

func printBundleResult(w io.Writer, file string, res *bundle.Result) {
	pinned := "pinned with --log-key"
	if !res.LogKeyPinned {
		pinned = "NOT pinned: the bundle's own key"
	}
	fmt.Fprintf(w, "%s verified for %s\n", file, res.Digest)
	fmt.Fprintf(w, "  log %s, %d entries (log key %s)\n", res.LogOrigin, res.LogSize, pinned)
	for _, a := range res.Attestations {
		fmt.Fprintf(w, "  attestation %s  envelope %s  key %s  log index %d\n",
			a.PredicateType, short(a.EnvelopeDigest), short(strings.Join(a.KeyIDs, ",")), a.LogIndex)
	}
	for _, d := range res.Decisions {
		fmt.Fprintf(w, "  decision %s: %s  log index %d\n", d.RequestID, d.Verdict, d.LogIndex)
	}
	for _, p := range res.Promotions {
		fmt.Fprintf(w, "  promotion %s: %s %s\n", p.RequestID, p.Status, p.DestinationImage)
	}
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/tlog"
)

// logPage is how many entries `custody log verify` asks for at once (the server's
// maximum page).
const logPage = 1000

func runLog(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageErr("name a subcommand: checkpoint or verify")
	}
	switch args[0] {
	case "checkpoint":
		return runLogCheckpoint(ctx, e, args[1:])
	case "verify":
		return runLogVerify(ctx, e, args[1:])
	}
	return usageErr("unknown subcommand %q: use checkpoint or verify", args[0])
}

func logKeyFlag(fs *cmdFlags) *string {
	return fs.String("key", "", "the log's verifier key `FILE` (DATA/keys/log.pub); default: ask the server (trust on first use)")
}

// runLogCheckpoint prints the ledger's current signed checkpoint, after verifying it.
func runLogCheckpoint(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "log checkpoint", "log checkpoint [--key FILE.pub] > checkpoint")
	server := serverFlag(fs)
	keyFile := logKeyFlag(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageErr("log checkpoint takes no arguments")
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	verifier, err := logVerifier(ctx, c, *keyFile)
	if err != nil {
		return err
	}
	signed, _, err := fetchCheckpoint(ctx, c, verifier)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(signed)
	return err
}

// runLogVerify checks that the log as the ledger serves it now is the log a saved
// checkpoint signed, plus appended entries: every entry's content still hashes to its
// leaf, the first entries still make the saved root, and all of them make the current
// signed root.
func runLogVerify(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "log verify", "log verify --checkpoint FILE [--key FILE.pub]")
	server := serverFlag(fs)
	keyFile := logKeyFlag(fs)
	cpFile := fs.String("checkpoint", "", "a checkpoint `FILE` saved earlier by `custody log checkpoint`")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 || *cpFile == "" {
		return usageErr("give --checkpoint FILE and no arguments")
	}
	saved, err := os.ReadFile(*cpFile)
	if err != nil {
		return err
	}
	c, err := newClient(*server, fs.bearer())
	if err != nil {
		return err
	}
	verifier, err := logVerifier(ctx, c, *keyFile)
	if err != nil {
		return err
	}
	old, err := tlog.Open(saved, verifier)
	if err != nil {
		return fmt.Errorf("saved checkpoint %s: %w", *cpFile, err)
	}
	_, cur, err := fetchCheckpoint(ctx, c, verifier)
	if err != nil {
		return err
	}
	if cur.Size < old.Size {
		return denied("the log has %d entries, fewer than the %d of the saved checkpoint: entries were removed", cur.Size, old.Size)
	}
	hashes := make([][]byte, 0, cur.Size)
	for start := uint64(0); start < cur.Size; start += logPage {
		end := min(start+logPage, cur.Size)
		var page struct {
			Entries []struct {
				Index    uint64 `json:"index"`
				Kind     string `json:"kind"`
				Key      string `json:"key"`
				Entry    []byte `json:"entry"`
				LeafHash []byte `json:"leafHash"`
			} `json:"entries"`
		}
		body, err := get(ctx, c, "/v1/log/entries", fmt.Sprintf("start=%d&end=%d", start, end), 256<<20)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("decode log entries [%d, %d): %w", start, end, err)
		}
		for _, en := range page.Entries {
			want := uint64(len(hashes))
			if en.Index != want {
				return denied("log entry %d is missing (the server sent %d next)", want, en.Index)
			}
			h := tlog.LeafHash(en.Entry)
			if !bytes.Equal(h, en.LeafHash) {
				return denied("log entry %d (%s %s) was changed: its content no longer matches the leaf hash it was logged with",
					en.Index, en.Kind, en.Key)
			}
			hashes = append(hashes, h)
		}
		if uint64(len(hashes)) != end {
			return denied("the server sent %d log entries of [%d, %d)", uint64(len(hashes))-start, start, end)
		}
	}
	oldRoot, err := tlog.Root(hashes[:old.Size])
	if err != nil {
		return err
	}
	if !bytes.Equal(oldRoot, old.Root) {
		return denied("the first %d log entries no longer make the saved checkpoint's root: an entry below %d was changed "+
			"together with its leaf hash", old.Size, old.Size)
	}
	curRoot, err := tlog.Root(hashes)
	if err != nil {
		return err
	}
	if !bytes.Equal(curRoot, cur.Root) {
		return denied("the %d log entries served do not make the root the ledger signs for them", cur.Size)
	}
	fmt.Fprintf(e.stdout, "log %s verified: %d entries; the %d of the saved checkpoint are unchanged\n", cur.Origin, cur.Size, old.Size)
	return nil
}

// logVerifier reads the verifier key from file, or asks the server when file is "".
func logVerifier(ctx context.Context, c *client, file string) (note.Verifier, error) {
	var vkey []byte
	var err error
	if file != "" {
		vkey, err = os.ReadFile(file)
	} else {
		vkey, err = get(ctx, c, "/v1/log/key", "", 64<<10)
	}
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		return nil, fmt.Errorf("log verifier key: %w", err)
	}
	return v, nil
}

func fetchCheckpoint(ctx context.Context, c *client, v note.Verifier) ([]byte, tlog.Checkpoint, error) {
	signed, err := get(ctx, c, "/v1/log/checkpoint", "", 64<<10)
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	cp, err := tlog.Open(signed, v)
	if err != nil {
		return nil, tlog.Checkpoint{}, denied("the ledger's checkpoint does not verify: %v", err)
	}
	return signed, cp, nil
}

// get GETs path?query and returns the answer, of at most limit bytes.
func get(ctx context.Context, c *client, path, query string, limit int64) ([]byte, error) {
	u := c.base.JoinPath(path)
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &apiError{Status: resp.StatusCode, Message: msg}
	}
	return body, nil
}

package tlog_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/tlog"
)

func keys(t *testing.T, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestCheckpointRoundTrip(t *testing.T) {
	root := bytes.Repeat([]byte{7}, 32)
	cp := tlog.Checkpoint{Origin: "custody.example/ledger", Size: 12, Root: root}
	body, err := cp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := "custody.example/ledger\n12\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"; string(body) != want {
		t.Errorf("Marshal = %q, want %q", body, want)
	}
	got, err := tlog.ParseCheckpoint(body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cp, got); diff != "" {
		t.Errorf("ParseCheckpoint (-want +got):\n%s", diff)
	}
}

func TestSignOpen(t *testing.T) {
	const origin = "custody.example/ledger"
	signer, verifier := keys(t, origin)
	_, otherVerifier := keys(t, origin)
	otherSigner, _ := keys(t, "someone.else/log")
	cp := tlog.Checkpoint{Origin: origin, Size: 3, Root: tlog.LeafHash([]byte("x"))}
	signed, err := tlog.Sign(cp, signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tlog.Open(signed, verifier)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if diff := cmp.Diff(cp, got); diff != "" {
		t.Errorf("Open (-want +got):\n%s", diff)
	}
	if _, err := tlog.Open(signed, otherVerifier); !errors.Is(err, tlog.ErrCheckpoint) {
		t.Errorf("Open with another key = %v, want ErrCheckpoint", err)
	}
	tampered := bytes.Replace(signed, []byte("\n3\n"), []byte("\n4\n"), 1)
	if _, err := tlog.Open(tampered, verifier); !errors.Is(err, tlog.ErrCheckpoint) {
		t.Errorf("Open of an edited checkpoint = %v, want ErrCheckpoint", err)
	}
	if _, err := tlog.Sign(cp, otherSigner); !errors.Is(err, tlog.ErrCheckpoint) {
		t.Errorf("Sign with a key named for another origin = %v, want ErrCheckpoint", err)
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	root := "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
	for name, body := range map[string]string{
		"empty":           "",
		"no final return": "o\n1\n" + root,
		"two lines":       "o\n1\n",
		"extension line":  "o\n1\n" + root + "\next\n",
		"empty origin":    "\n1\n" + root + "\n",
		"origin space":    "a b\n1\n" + root + "\n",
		"negative size":   "o\n-1\n" + root + "\n",
		"leading zero":    "o\n01\n" + root + "\n",
		"plus size":       "o\n+1\n" + root + "\n",
		"size overflow":   "o\n18446744073709551616\n" + root + "\n",
		"short root":      "o\n1\nBwcH\n",
		"bad base64":      "o\n1\n" + strings.Repeat("!", 44) + "\n",
		"huge":            strings.Repeat("o", tlog.MaxCheckpoint) + "\n1\n" + root + "\n",
		"invalid utf8":    "o\xff\n1\n" + root + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := tlog.ParseCheckpoint([]byte(body)); !errors.Is(err, tlog.ErrCheckpoint) {
				t.Errorf("ParseCheckpoint(%q) error = %v, want ErrCheckpoint", body, err)
			}
		})
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("custody.example/ledger\n12\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"))
	f.Add([]byte("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Add([]byte("o\n1\nBwcH\n"))
	f.Add([]byte("o\n01\n\n\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		cp, err := tlog.ParseCheckpoint(body)
		if err != nil {
			return
		}
		// What parses must marshal back to exactly the same bytes.
		again, err := cp.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed checkpoint: %v", err)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("Marshal(Parse(%q)) = %q", body, again)
		}
	})
}

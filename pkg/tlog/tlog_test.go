package tlog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/custody-dev/custody/pkg/tlog"
)

func leaves(n int) [][]byte {
	hs := make([][]byte, n)
	for i := range hs {
		hs[i] = tlog.LeafHash(fmt.Appendf(nil, "entry %d", i))
	}
	return hs
}

func TestLeafHashIsRFC6962(t *testing.T) {
	// RFC 6962: leaf hash = SHA-256(0x00 || entry).
	want := sha256.Sum256([]byte("\x00hello"))
	if got := tlog.LeafHash([]byte("hello")); !bytes.Equal(got, want[:]) {
		t.Errorf("LeafHash = %x, want %x", got, want)
	}
	empty := sha256.Sum256(nil)
	if got, err := tlog.Root(nil); err != nil || !bytes.Equal(got, empty[:]) {
		t.Errorf("Root(empty) = %x, %v; want %x", got, err, empty)
	}
}

// TestRootKnownAnswer checks a root against the RFC 6962 reference test vector (the
// eight leaves of certificate-transparency's merkle_tree_test).
func TestRootKnownAnswer(t *testing.T) {
	inputs := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	var hs [][]byte
	for _, in := range inputs {
		b, _ := hex.DecodeString(in)
		hs = append(hs, tlog.LeafHash(b))
	}
	got, err := tlog.Root(hs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"; hex.EncodeToString(got) != want {
		t.Errorf("root of the 8 reference leaves = %x, want %s", got, want)
	}
}

func TestProofsVerify(t *testing.T) {
	hs := leaves(21)
	roots := make([][]byte, len(hs)+1)
	for n := range roots {
		r, err := tlog.Root(hs[:n])
		if err != nil {
			t.Fatal(err)
		}
		roots[n] = r
	}
	for size := uint64(1); size <= uint64(len(hs)); size++ {
		for i := range size {
			p, err := tlog.InclusionProof(i, size, hs)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			if err := tlog.VerifyInclusion(i, size, hs[i], p, roots[size]); err != nil {
				t.Errorf("VerifyInclusion(%d, %d): %v", i, size, err)
			}
			if err := tlog.VerifyInclusion(i, size, tlog.LeafHash([]byte("other")), p, roots[size]); err == nil {
				t.Errorf("VerifyInclusion(%d, %d) of a different leaf = nil, want an error", i, size)
			}
		}
	}
	for to := uint64(0); to <= uint64(len(hs)); to++ {
		for from := range to + 1 {
			p, err := tlog.ConsistencyProof(from, to, hs)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
			}
			if err := tlog.VerifyConsistency(from, to, p, roots[from], roots[to]); err != nil {
				t.Errorf("VerifyConsistency(%d, %d): %v", from, to, err)
			}
		}
	}
}

func TestEditedLeafBreaksConsistency(t *testing.T) {
	hs := leaves(10)
	old, _ := tlog.Root(hs[:7])
	edited := append([][]byte(nil), hs...)
	edited[3] = tlog.LeafHash([]byte("edited"))
	newRoot, _ := tlog.Root(edited)
	p, err := tlog.ConsistencyProof(7, 10, edited)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(7, 10, p, old, newRoot); err == nil {
		t.Error("consistency across an edited leaf = nil, want an error")
	}
}

func TestProofRangeErrors(t *testing.T) {
	hs := leaves(4)
	for _, tc := range []struct {
		name string
		fn   func() error
	}{
		{"inclusion index = size", func() error { _, err := tlog.InclusionProof(4, 4, hs); return err }},
		{"inclusion size beyond leaves", func() error { _, err := tlog.InclusionProof(0, 5, hs); return err }},
		{"consistency from > to", func() error { _, err := tlog.ConsistencyProof(3, 2, hs); return err }},
		{"consistency to beyond leaves", func() error { _, err := tlog.ConsistencyProof(1, 5, hs); return err }},
		{"root of a short hash", func() error { _, err := tlog.Root([][]byte{{1, 2}}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tlog.ErrInvalid) {
				t.Errorf("error = %v, want ErrInvalid", err)
			}
		})
	}
}

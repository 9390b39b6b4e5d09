package tlog

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of every hash in the log (SHA-256).
const HashSize = 32

// ErrInvalid: a proof request or a tree is out of range (an index beyond the size, a
// malformed hash).
var ErrInvalid = errors.New("invalid log request")

var hasher = rfc6962.DefaultHasher

// LeafHash returns the RFC 6962 leaf hash of an entry: SHA-256(0x00 || entry).
func LeafHash(entry []byte) []byte { return hasher.HashLeaf(entry) }

// EmptyRoot is the root hash of the empty tree.
func EmptyRoot() []byte { return hasher.EmptyRoot() }

// Root returns the root hash of the tree whose leaves have the given hashes.
func Root(leafHashes [][]byte) ([]byte, error) {
	if len(leafHashes) == 0 {
		return EmptyRoot(), nil
	}
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for i, h := range leafHashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("%w: leaf hash %d is %d bytes, want %d", ErrInvalid, i, len(h), HashSize)
		}
		if err := r.Append(h, nil); err != nil {
			return nil, fmt.Errorf("tlog: root: %w", err)
		}
	}
	return r.GetRootHash(nil)
}

// InclusionProof returns the proof that leaf index is in the tree made of the first
// size leaf hashes (RFC 9162 section 2.1.3.1). It needs those size hashes.
func InclusionProof(index, size uint64, leafHashes [][]byte) ([][]byte, error) {
	if index >= size || size > uint64(len(leafHashes)) {
		return nil, fmt.Errorf("%w: inclusion of %d in a tree of size %d (%d leaves known)", ErrInvalid, index, size, len(leafHashes))
	}
	if err := checkHashes(leafHashes[:size]); err != nil {
		return nil, err
	}
	return path(index, leafHashes[:size]), nil
}

// ConsistencyProof returns the proof that the tree of size from is a prefix of the tree
// of size to (RFC 9162 section 2.1.4.1). It needs the first to leaf hashes.
func ConsistencyProof(from, to uint64, leafHashes [][]byte) ([][]byte, error) {
	if from > to || to > uint64(len(leafHashes)) {
		return nil, fmt.Errorf("%w: consistency from %d to %d (%d leaves known)", ErrInvalid, from, to, len(leafHashes))
	}
	if err := checkHashes(leafHashes[:to]); err != nil {
		return nil, err
	}
	if from == 0 || from == to {
		return [][]byte{}, nil
	}
	return subproof(from, leafHashes[:to], true), nil
}

// VerifyInclusion checks that leafHash is at index in the tree of the given size and
// root.
func VerifyInclusion(index, size uint64, leafHash []byte, proofHashes [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(hasher, index, size, leafHash, proofHashes, root); err != nil {
		return fmt.Errorf("tlog: inclusion of %d in tree of size %d: %w", index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size1 and root1 is a prefix of the tree of
// size2 and root2.
func VerifyConsistency(size1, size2 uint64, proofHashes [][]byte, root1, root2 []byte) error {
	if err := proof.VerifyConsistency(hasher, size1, size2, proofHashes, root1, root2); err != nil {
		return fmt.Errorf("tlog: consistency of tree size %d with %d: %w", size1, size2, err)
	}
	return nil
}

func checkHashes(hs [][]byte) error {
	for i, h := range hs {
		if len(h) != HashSize {
			return fmt.Errorf("%w: leaf hash %d is %d bytes, want %d", ErrInvalid, i, len(h), HashSize)
		}
	}
	return nil
}

// split is the largest power of two smaller than n (n > 1).
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// mth is the Merkle tree hash of a non-empty list of leaf hashes.
func mth(hs [][]byte) []byte {
	if len(hs) == 1 {
		return hs[0]
	}
	k := split(len(hs))
	return hasher.HashChildren(mth(hs[:k]), mth(hs[k:]))
}

// path is RFC 9162's PATH(m, D[n]).
func path(m uint64, hs [][]byte) [][]byte {
	if len(hs) <= 1 {
		return [][]byte{}
	}
	k := split(len(hs))
	if m < uint64(k) {
		return append(path(m, hs[:k]), mth(hs[k:]))
	}
	return append(path(m-uint64(k), hs[k:]), mth(hs[:k]))
}

// subproof is RFC 9162's SUBPROOF(m, D[n], b).
func subproof(m uint64, hs [][]byte, b bool) [][]byte {
	n := uint64(len(hs))
	if m == n {
		if b {
			return [][]byte{}
		}
		return [][]byte{mth(hs)}
	}
	k := uint64(split(len(hs)))
	if m <= k {
		return append(subproof(m, hs[:k], b), mth(hs[k:]))
	}
	return append(subproof(m-k, hs[k:], false), mth(hs[:k]))
}

package tlog_test

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/tlog"
)

func Example() {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "custody.example/ledger")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)

	var leaves [][]byte
	for _, e := range []string{"attestation 1", "decision 1", "attestation 2"} {
		leaves = append(leaves, tlog.LeafHash([]byte(e)))
	}
	root, _ := tlog.Root(leaves)
	signed, _ := tlog.Sign(tlog.Checkpoint{Origin: "custody.example/ledger", Size: 3, Root: root}, signer)

	cp, err := tlog.Open(signed, verifier)
	if err != nil {
		fmt.Println(err)
		return
	}
	proof, _ := tlog.InclusionProof(1, cp.Size, leaves)
	fmt.Println(cp.Size, tlog.VerifyInclusion(1, cp.Size, leaves[1], proof, cp.Root))
	// Output: 3 <nil>
}

package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ledger")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := sqlite.Open(ctx, filepath.Join(dir, "custody.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	digest := "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	b := ledger.Build{Digest: digest, Image: "reg.example/app@" + digest, Commit: "abc123", EventID: "ev-1"}
	for range 2 { // delivered twice: recorded once
		r, err := store.PutBuild(ctx, ledger.PutBuildRequest{Build: b})
		fmt.Println("inserted:", r.Inserted, err)
	}
	p, err := store.Provenance(ctx, digest)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Image(), p.Build.Commit)
	// Output:
	// inserted: true <nil>
	// inserted: false <nil>
	// reg.example/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 abc123
}

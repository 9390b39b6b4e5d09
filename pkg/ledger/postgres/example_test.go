package postgres_test

import (
	"context"
	"fmt"
	"os"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/postgres"
)

// Open a ledger in a schema of its own (created and migrated on first open) and record
// a build twice: the second delivery changes nothing. It needs a server, so it is
// compiled, not run, by go test.
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("CUSTODY_DB"), postgres.WithSchema("custody_prod"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	digest := "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	b := ledger.Build{Digest: digest, Image: "reg.example/app@" + digest, Commit: "abc123", EventID: "ev-1"}
	for range 2 {
		r, err := store.PutBuild(ctx, ledger.PutBuildRequest{Build: b})
		fmt.Println("inserted:", r.Inserted, err)
	}
}

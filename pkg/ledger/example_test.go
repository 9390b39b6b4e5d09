package ledger_test

import (
	"fmt"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

// Events about one promotion may arrive in any order; the row only moves forward.
func ExampleMergePromotion() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p, _ := ledger.MergePromotion(nil, ledger.Promotion{
		RequestID: "req-1", Status: ledger.PromotionCompleted, DestinationImage: "prod.example/app@sha256:...",
	}, now)
	p, changed := ledger.MergePromotion(&p, ledger.Promotion{
		RequestID: "req-1", Status: ledger.PromotionRequested, RequestedBy: "alice",
	}, now)
	fmt.Println(p.Status, p.RequestedBy, changed)
	// Output: completed alice true
}

// A scope matches whole path segments of an artifact's image.
func ExampleScope() {
	scope := ledger.RepositoryScope("reg.example/team-a")
	fmt.Println(scope.Allows("reg.example/team-a/app@sha256:..."))
	fmt.Println(scope.Allows("reg.example/team-ab/app@sha256:..."))
	fmt.Println(ledger.AllRepositories().Allows("reg.example/team-ab/app@sha256:..."))
	// Output:
	// true
	// false
	// true
}

package cli

import (
	"context"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/oci"
)

// custody dev's registry implements the OCI referrers API unless --no-referrers says not
// to, so that both of the attestor's layouts can be tried against it.
func TestDevReferrersSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the dev stack")
	}
	for _, tc := range []struct {
		noReferrers bool
		want        bool
	}{{false, true}, {true, false}} {
		s := startDev(t, devConfig{
			data: t.TempDir(), addr: bundleTestAddr(t), registryAddr: bundleTestAddr(t), natsAddr: "127.0.0.1:0",
			stream: "CUSTODY", prefix: "custody", bucket: "CUSTODY_BLOBS", evidenceWait: time.Minute, noReferrers: tc.noReferrers,
		})
		repo := pushRandom(t, s.cfg.registryAddr, "staging/app").Context()
		got, err := oci.SupportsReferrers(context.Background(), repo)
		_ = s.shutdown(context.Background())
		if err != nil || got != tc.want {
			t.Errorf("--no-referrers=%v: registry supports referrers = %v (%v), want %v", tc.noReferrers, got, err, tc.want)
		}
	}
}

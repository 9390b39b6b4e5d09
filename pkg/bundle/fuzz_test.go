package bundle_test

import (
	"context"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/verify"
)

// FuzzBundle parses and verifies arbitrary documents: neither may panic, and Verify
// must answer promptly. The seed corpus (testdata/fuzz/FuzzBundle) holds a bundle that
// verifies with the fixed test keys, so mutations start from deep inside the verifier.
func FuzzBundle(f *testing.F) {
	fx := newFixture(f)
	valid, err := fx.bundle.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"mediaType":"application/vnd.custody.bundle.v1+json"}`))
	f.Add([]byte(`{"logEntries":[{"index":-1,"entry":"","proof":[""]}]}`))
	keys := []verify.TrustedKey{fx.key}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Parse(data)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, opt := range []bundle.Option{bundle.WithLogKey(fx.logKey), bundle.WithBundleLogKeyUnsafe()} {
			if _, err := bundle.Verify(ctx, b, keys, opt); err == nil && b.Digest != testDigest {
				t.Fatalf("a bundle about %s verified with keys that signed only about %s", b.Digest, testDigest)
			}
		}
	})
}

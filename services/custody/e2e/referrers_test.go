//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/oci"
)

// deleteManifest removes ref (a tag, or a manifest by digest) from the dev registry.
func deleteManifest(t *testing.T, ref name.Reference) {
	t.Helper()
	u := "http://" + ref.Context().RegistryStr() + "/v2/" + ref.Context().RepositoryStr() + "/manifests/" + ref.Identifier()
	req, err := http.NewRequest(http.MethodDelete, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE %s: %s", u, resp.Status)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Fatalf("%s still exists after DELETE", ref)
	}
}

// TestE2EReferrerVerifiedByCosign checks that cosign v3, in its default (Sigstore bundle)
// mode, finds and verifies the bundle referrers Custody writes, on the staging image
// and on its promoted copy. To show that the referrer is what cosign verified, the .att
// tags are deleted first: with only the referrers left, the default mode verifies and
// the legacy mode (--new-bundle-format=false) finds nothing.
func TestE2EReferrerVerifiedByCosign(t *testing.T) {
	v3 := cosignVersion{label: "v3 bundle", name: "v3", env: "CUSTODY_TEST_COSIGN_V3"}
	legacy := cosignVersion{label: "v3 legacy", name: "v3", env: "CUSTODY_TEST_COSIGN_V3", extra: []string{"--new-bundle-format=false"}}
	bin := cosignBinary(t, v3)

	d := &devStack{bin: custodyBinary(t), data: t.TempDir(), api: freeAddr(t), registry: freeAddr(t)}
	d.start(t)
	defer d.stop(t)
	staging, digest, promoted := d.buildAndPromote(t, "referrers")
	promotedRef := promoted.Context().Digest(digest.String())
	key := filepath.Join(d.data, "keys", "custody.pub")
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("custody dev's public key: %v", err)
	}

	ctx := context.Background()
	for _, ref := range []name.Digest{staging, promotedRef} {
		ok, err := oci.SupportsReferrers(ctx, ref.Context())
		if err != nil || !ok {
			t.Fatalf("custody dev's registry: SupportsReferrers = %v, %v; want true", ok, err)
		}
		bundles, err := oci.ReadBundleReferrers(ctx, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		got := map[string]bool{}
		for _, b := range bundles {
			got[b.PredicateType] = true
		}
		if !got["https://slsa.dev/provenance/v1"] || !got["https://cyclonedx.org/bom"] {
			t.Fatalf("%s: bundle referrers for %v, want provenance and SBOM", ref, got)
		}
		deleteManifest(t, ref.Context().Tag(oci.AttachmentTag(ref.DigestStr())))
		if atts, err := oci.ReadAttachments(ctx, ref); err != nil || len(atts) != 0 {
			t.Fatalf("%s: .att attachments after delete = %d, %v", ref, len(atts), err)
		}
	}

	types := []struct{ flag, predicateType string }{
		{"slsaprovenance1", "https://slsa.dev/provenance/v1"},
		{"cyclonedx", "https://cyclonedx.org/bom"},
	}
	for _, r := range []struct {
		name string
		ref  name.Digest
	}{{"staging", staging}, {"promoted", promotedRef}} {
		t.Run(r.name, func(t *testing.T) {
			for _, ty := range types {
				t.Run(ty.flag, func(t *testing.T) {
					res := verifyAttestation(t, bin, v3, key, ty.flag, r.ref.String())
					checkStatements(t, res, ty.predicateType, digest)
					if !strings.Contains(res.stderr, "verified against the specified public key") {
						t.Errorf("cosign did not report a key verification:\n%s", res.stderr)
					}
				})
			}
			t.Run("legacy layout finds nothing", func(t *testing.T) {
				res := verifyAttestation(t, bin, legacy, key, "slsaprovenance1", r.ref.String())
				if res.code == 0 {
					t.Fatalf("cosign --new-bundle-format=false verified without a .att tag:\n%s", res.stdout)
				}
			})
			t.Run("wrong key", func(t *testing.T) {
				res := verifyAttestation(t, bin, v3, otherPublicKey(t), "slsaprovenance1", r.ref.String())
				if res.code == 0 || len(statementsOf(t, res.stdout)) != 0 {
					t.Fatalf("cosign verified the bundle under another key:\n%s", res.stdout)
				}
			})
		})
	}
}

// TestE2ETagLayoutWithoutReferrers checks the fallback: with its bundle referrers deleted,
// an image's .att tag alone is verified by cosign v2 (without a trusted root), by cosign
// v3 in its default mode (which finds no bundle and falls back) and by cosign v3 with
// --new-bundle-format=false.
func TestE2ETagLayoutWithoutReferrers(t *testing.T) {
	versions := []cosignVersion{
		{label: "v2", name: "v2", env: "CUSTODY_TEST_COSIGN_V2"},
		{label: "v3", name: "v3", env: "CUSTODY_TEST_COSIGN_V3"},
		{label: "v3 legacy", name: "v3", env: "CUSTODY_TEST_COSIGN_V3", extra: []string{"--new-bundle-format=false"}},
	}
	bins := map[string]string{}
	for _, v := range versions {
		bins[v.label] = cosignBinary(t, v)
	}
	d := &devStack{bin: custodyBinary(t), data: t.TempDir(), api: freeAddr(t), registry: freeAddr(t)}
	d.start(t)
	defer d.stop(t)
	staging, digest, promoted := d.buildAndPromote(t, "tags")
	promotedRef := promoted.Context().Digest(digest.String())
	key := filepath.Join(d.data, "keys", "custody.pub")

	ctx := context.Background()
	for _, ref := range []name.Digest{staging, promotedRef} {
		bundles, err := oci.ReadBundleReferrers(ctx, ref)
		if err != nil || len(bundles) == 0 {
			t.Fatalf("%s: %d bundle referrers, %v", ref, len(bundles), err)
		}
		for _, b := range bundles {
			deleteManifest(t, b.Referrer)
		}
		if left, err := oci.ReadBundleReferrers(ctx, ref); err != nil || len(left) != 0 {
			t.Fatalf("%s: %d bundle referrers after delete, %v", ref, len(left), err)
		}
	}
	for _, v := range versions {
		t.Run("cosign "+v.label, func(t *testing.T) {
			for _, ref := range []name.Digest{staging, promotedRef} {
				res := verifyAttestation(t, bins[v.label], v, key, "slsaprovenance1", ref.String())
				checkStatements(t, res, "https://slsa.dev/provenance/v1", digest)
			}
		})
	}
}

package oci

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FuzzCheckAttachmentTags feeds the checks Copy applies to what a registry answers
// under attachment tags (an .att or .sig image manifest, a referrers fallback index)
// untrusted manifests (seeds in testdata/fuzz/FuzzCheckAttachmentTags). They must never
// panic, refuse with ErrUnexpectedManifest, and what they accept must be within bounds.
func FuzzCheckAttachmentTags(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","size":3,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","annotations":{"dev.cosignproject.cosign/signature":"","predicateType":"p"}}]}`), true)
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}]}`), false)
	tag, err := name.NewTag("127.0.0.1:5000/app:sha256-00")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, image bool) {
		mt := types.OCIImageIndex
		if image {
			mt = types.OCIManifestSchema1
		}
		h, size, err := v1.SHA256(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		desc := &remote.Descriptor{Descriptor: v1.Descriptor{MediaType: mt, Digest: h, Size: size}, Manifest: data}
		if image {
			m, err := checkAttachmentManifest(tag, desc)
			if err != nil {
				if !errors.Is(err, ErrUnexpectedManifest) {
					t.Fatalf("checkAttachmentManifest error %v is not ErrUnexpectedManifest", err)
				}
				return
			}
			if len(m.Layers) > MaxAttachments || m.Config.Size > maxConfigSize {
				t.Fatalf("accepted %d layers, config of %d bytes", len(m.Layers), m.Config.Size)
			}
			for _, l := range m.Layers {
				_ = layerKey(l)
			}
			return
		}
		im, err := checkReferrersIndex(tag, desc)
		if err != nil {
			if !errors.Is(err, ErrUnexpectedManifest) {
				t.Fatalf("checkReferrersIndex error %v is not ErrUnexpectedManifest", err)
			}
			return
		}
		if len(im.Manifests) > MaxAttachments {
			t.Fatalf("accepted %d manifests", len(im.Manifests))
		}
		for _, m := range im.Manifests {
			if m.Digest.Algorithm != "sha256" {
				t.Fatalf("accepted digest %s", m.Digest)
			}
		}
	})
}

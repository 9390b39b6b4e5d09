package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// copyAttachmentTag merges what the attachment tag from names into to: the layers of
// a .att or .sig manifest, or the entries of a referrers fallback index (a tag without
// a suffix). It reports whether from exists (and to now holds all of it), and whether
// it wrote to by merging with what to already held.
func copyAttachmentTag(ctx context.Context, c clients, from, to name.Tag) (copied, merged bool, err error) {
	src, err := c.puller.Get(ctx, from)
	if isNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("fetch %s: %w", from, err)
	}
	if strings.HasSuffix(from.TagStr(), ".att") || strings.HasSuffix(from.TagStr(), ".sig") {
		merged, err = mergeLayers(ctx, c, from, to, src)
	} else {
		merged, err = mergeReferrersIndex(ctx, c, from, to, src)
	}
	if err != nil {
		return false, false, err
	}
	return true, merged, nil
}

// layerKey tells attachment layers apart: by digest, and by the signature annotation,
// which for a .sig layer holds the signature itself (two keys signing the same image
// sign the same payload, so the same layer digest). Attestation layers carry their
// signatures inside the envelope and an empty annotation.
func layerKey(l v1.Descriptor) string {
	return l.Digest.String() + "\x00" + l.Annotations[AnnotationSignature]
}

// mergeLayers makes to hold its own layers and then src's (the manifest from names)
// that it lacks. Where to does not exist, src is copied as it is (its blobs mounted
// where the registry can).
func mergeLayers(ctx context.Context, c clients, from, to name.Tag, src *remote.Descriptor) (bool, error) {
	srcManifest, err := checkAttachmentManifest(from, src)
	if err != nil {
		return false, fmt.Errorf("source: %w", err)
	}
	dst, err := c.puller.Get(ctx, to)
	if isNotFound(err) {
		if err := c.pusher.Push(ctx, to, src); err != nil {
			return false, fmt.Errorf("write %s: %w", to, err)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fetch %s: %w", to, err)
	}
	if dst.Digest == src.Digest {
		return false, nil
	}
	dstManifest, err := checkAttachmentManifest(to, dst)
	if err != nil {
		return false, fmt.Errorf("destination: %w", err)
	}
	have := make(map[string]bool, len(dstManifest.Layers))
	for _, l := range dstManifest.Layers {
		have[layerKey(l)] = true
	}
	var adds []mutate.Addendum
	for _, l := range srcManifest.Layers {
		k := layerKey(l)
		if have[k] {
			continue
		}
		have[k] = true
		if l.Digest.Algorithm != "sha256" || l.Size < 0 || l.Size > MaxEnvelopeSize {
			return false, fmt.Errorf("%w: %s layer %s of %d bytes: want sha256 and at most %d bytes",
				ErrUnexpectedManifest, from, l.Digest, l.Size, MaxEnvelopeSize)
		}
		ref := from.Context().Digest(l.Digest.String())
		blob, err := c.puller.Layer(ctx, ref)
		if err != nil {
			return false, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		adds = append(adds, mutate.Addendum{
			// A MountableLayer names where the blob is, so that the registry can mount it.
			Layer:       &remote.MountableLayer{Layer: attachmentLayer{desc: l, blob: blob}, Reference: ref},
			Annotations: l.Annotations,
			MediaType:   l.MediaType,
		})
	}
	if len(adds) == 0 {
		return false, nil
	}
	if len(dstManifest.Layers)+len(adds) > MaxAttachments {
		return false, fmt.Errorf("%w: %s would hold %d layers, more than %d",
			ErrUnexpectedManifest, to, len(dstManifest.Layers)+len(adds), MaxAttachments)
	}
	base, err := dst.Image()
	if err != nil {
		return false, fmt.Errorf("read %s: %w", to, err)
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return false, fmt.Errorf("merge %s: %w", to, err)
	}
	if err := c.pusher.Push(ctx, to, img); err != nil {
		return false, fmt.Errorf("write %s: %w", to, err)
	}
	return true, nil
}

// attachmentLayer is a layer of a source attachment manifest, described by its
// descriptor and read (bounded by its size) from the source only when the
// destination can neither mount it nor has it. Attachment blobs are uncompressed
// JSON, as Attach and cosign write them, so the diff id is the digest.
type attachmentLayer struct {
	desc v1.Descriptor
	blob v1.Layer
}

func (l attachmentLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l attachmentLayer) DiffID() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l attachmentLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l attachmentLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l attachmentLayer) Uncompressed() (io.ReadCloser, error) {
	return l.Compressed()
}

// Descriptor keeps the source descriptor (see partial.Descriptor).
func (l attachmentLayer) Descriptor() (*v1.Descriptor, error) {
	d := l.desc
	return &d, nil
}

// Compressed streams the blob; go-containerregistry checks its digest as it is read,
// and reading stops one byte past the declared size, which the destination refuses.
func (l attachmentLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.blob.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, l.desc.Size+1), rc}, nil
}

// mergeReferrersIndex makes the referrers fallback index to (an image index listing
// the manifests that refer to an image, for registries without the referrers API)
// list its own entries and then src's that it lacks, after copying those manifests.
// Where to does not exist, src is copied as it is.
func mergeReferrersIndex(ctx context.Context, c clients, from, to name.Tag, src *remote.Descriptor) (bool, error) {
	srcIndex, err := checkReferrersIndex(from, src)
	if err != nil {
		return false, fmt.Errorf("source: %w", err)
	}
	before, beforeDigest, err := readReferrersIndex(ctx, c.puller, to)
	if err != nil || beforeDigest == src.Digest.String() {
		return false, err
	}
	listed := listedIn(before)
	copied := false
	for _, m := range srcIndex.Manifests {
		if listed[m.Digest] {
			continue
		}
		if err := copyManifest(ctx, c, from.Context().Digest(m.Digest.String()), to.Context().Digest(m.Digest.String())); err != nil {
			return false, err
		}
		copied = true
	}
	// go-containerregistry adds a referrer it writes to its subject's fallback index
	// on a registry without the referrers API: merge into what the registry holds now.
	now := before
	if copied {
		if now, _, err = readReferrersIndex(ctx, c.puller, to); err != nil {
			return false, err
		}
	}
	if now == nil {
		if err := c.pusher.Put(ctx, to, src); err != nil {
			return false, fmt.Errorf("write %s: %w", to, err)
		}
		return false, nil
	}
	listed = listedIn(now)
	merged := *now
	merged.Manifests = append([]v1.Descriptor(nil), now.Manifests...)
	for _, m := range srcIndex.Manifests {
		if !listed[m.Digest] {
			listed[m.Digest] = true
			merged.Manifests = append(merged.Manifests, m)
		}
	}
	if len(merged.Manifests) == len(now.Manifests) {
		// Nothing left to add; what go-containerregistry added counts as merged.
		return before != nil && copied, nil
	}
	if len(merged.Manifests) > MaxAttachments {
		return false, fmt.Errorf("%w: %s would list %d manifests, more than %d", ErrUnexpectedManifest, to, len(merged.Manifests), MaxAttachments)
	}
	// Sorted by digest, as go-containerregistry writes it, so that the result does not
	// depend on the order entries arrived in.
	sort.Slice(merged.Manifests, func(i, j int) bool {
		return merged.Manifests[i].Digest.String() < merged.Manifests[j].Digest.String()
	})
	body, err := json.Marshal(merged)
	if err != nil {
		return false, fmt.Errorf("merge %s: %w", to, err)
	}
	if err := c.pusher.Put(ctx, to, taggableManifest{body: body, mediaType: types.OCIImageIndex}); err != nil {
		return false, fmt.Errorf("write %s: %w", to, err)
	}
	return before != nil, nil
}

// listedIn returns the digests im lists (none for a nil im).
func listedIn(im *v1.IndexManifest) map[v1.Hash]bool {
	out := map[v1.Hash]bool{}
	if im != nil {
		for _, m := range im.Manifests {
			out[m.Digest] = true
		}
	}
	return out
}

// readReferrersIndex reads and bounds the referrers fallback index at tag; nil (and
// no error) when there is none.
func readReferrersIndex(ctx context.Context, puller *remote.Puller, tag name.Tag) (*v1.IndexManifest, string, error) {
	desc, err := puller.Get(ctx, tag)
	if isNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", tag, err)
	}
	im, err := checkReferrersIndex(tag, desc)
	if err != nil {
		return nil, "", fmt.Errorf("destination: %w", err)
	}
	return im, desc.Digest.String(), nil
}

// checkReferrersIndex parses and bounds the image index a referrers fallback tag names.
func checkReferrersIndex(tag name.Tag, desc *remote.Descriptor) (*v1.IndexManifest, error) {
	if desc.MediaType != types.OCIImageIndex {
		return nil, fmt.Errorf("%w: %s is a %s, not an OCI image index", ErrUnexpectedManifest, tag, desc.MediaType)
	}
	if len(desc.Manifest) > maxManifestSize {
		return nil, fmt.Errorf("%w: %s index of %d bytes exceeds %d", ErrUnexpectedManifest, tag, len(desc.Manifest), maxManifestSize)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnexpectedManifest, tag, err)
	}
	if len(im.Manifests) > MaxAttachments {
		return nil, fmt.Errorf("%w: %s lists %d manifests, more than %d", ErrUnexpectedManifest, tag, len(im.Manifests), MaxAttachments)
	}
	for _, m := range im.Manifests {
		if m.Digest.Algorithm != "sha256" {
			return nil, fmt.Errorf("%w: %s lists %s; only sha256 digests are accepted", ErrUnexpectedManifest, tag, m.Digest)
		}
	}
	return im, nil
}

// copyManifest copies the manifest from names, with what it references, to to.
func copyManifest(ctx context.Context, c clients, from, to name.Digest) error {
	desc, err := c.puller.Get(ctx, from)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", from, markDigestMismatch(err))
	}
	if len(desc.Manifest) > maxManifestSize {
		return fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrUnexpectedManifest, from, len(desc.Manifest), maxManifestSize)
	}
	if err := c.pusher.Push(ctx, to, desc); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return nil
}

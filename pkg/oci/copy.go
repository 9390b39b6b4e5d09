package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Errors Copy and Tag return for inputs they refuse; callers branch on them with errors.Is.
var (
	// ErrNotPinned: a source reference is not pinned by a sha256 digest.
	ErrNotPinned = errors.New("reference is not pinned by a sha256 digest")
	// ErrDigestMismatch: the registry holds a manifest whose digest is not the one asked for.
	ErrDigestMismatch = errors.New("manifest digest does not match")
	// ErrInvalidDestination: a destination is not a repository with an optional tag.
	ErrInvalidDestination = errors.New("invalid destination")
)

// Bounds on the index Copy walks.
const (
	// maxCopyManifests bounds the manifests one index lists, nested indexes included.
	maxCopyManifests = 1024
	// maxIndexDepth bounds how deep indexes nest.
	maxIndexDepth = 8
)

// Copied describes what Copy put in the destination repository.
type Copied struct {
	// Digest is the destination repository pinned by the copied manifest's digest.
	Digest name.Digest
	// Manifests counts the image and index manifests now in the destination under
	// Digest: 1 for an image; for an index, the index and every manifest it lists,
	// recursively (platform images, and any attestation manifests a builder listed).
	Manifests int
	// Children are the manifests an index lists, recursively and in index order, pinned
	// in the destination repository; empty when the source is an image. Their
	// attachments and bundle referrers are copied as the index's are.
	Children []name.Digest
	// Attachments counts the cosign attachment tags (.att, .sig, and the referrers
	// fallback tag sha256-<hex>) of the image and of each child that the source has
	// and that the destination now holds, copied or merged.
	Attachments int
	// Merged counts those of Attachments that this call wrote by merging: the
	// destination already held other layers (or listed referrers) under the tag, which
	// were kept, and the source's missing ones were added.
	Merged int
	// Referrers counts the Sigstore bundle referrers of the image and its children
	// copied along with them (only to a destination registry with the OCI referrers API).
	Referrers int
}

// copyAttachmentTags lists the tags under which cosign keeps what it attached to the
// manifest with hex digest hex: attestations (.att), signatures (.sig), and the
// "sha256-<hex>" index tag that stands in for the referrers API on registries without it.
// (Named for copy.go; attach.go may have its own helper for the .att tag alone.)
func copyAttachmentTags(hex string) []string {
	base := "sha256-" + hex
	return []string{base + ".att", base + ".sig", base}
}

// clients are the registry clients of one Copy or Tag call.
type clients struct {
	puller *remote.Puller
	pusher *remote.Pusher
}

func newClients(opts []remote.Option) (clients, error) {
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return clients{}, fmt.Errorf("registry client: %w", err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return clients{}, fmt.Errorf("registry client: %w", err)
	}
	return clients{puller: puller, pusher: pusher}, nil
}

// Copy copies the image or index src names, and its cosign attachments, to dst, by
// digest, in this order:
//
//  1. The manifest is written to dst@digest with everything it references: an
//     index's platform manifests (recursively) and every layer and config blob. Blobs
//     the destination repository lacks are mounted from src's repository when both
//     are on the same registry (the registry falls back to an upload where it cannot
//     mount), and uploaded otherwise.
//  2. For the image or index and for each manifest an index lists, the attachment
//     tags in src's repository (sha256-<hex>.att, .sig and the referrers fallback
//     tag sha256-<hex>) are merged into dst's: where dst has nothing under a tag, src's
//     manifest is copied as it is; where it has another, dst's layers are kept and
//     src's missing ones appended (the referrers fallback index likewise gains src's
//     missing entries), in the layout Attach and cosign write. Nothing dst holds is
//     dropped. Layers are told apart by digest (and, for .sig, signature annotation,
//     since two signers sign the same payload).
//  3. When dst's registry implements the OCI referrers API, src's Sigstore bundle
//     referrers of each of them are copied by digest (see ReadBundleReferrers).
//  4. The registry is asked for dst@digest and must answer exactly src's digest.
//  5. Only then, when tag is not empty, is dst:tag pointed at it, as Tag does. A
//     failure at any earlier step returns an error and leaves the tag as it was.
//
// Copying again with the same arguments changes nothing at the destination. Merging
// an attachment tag is a read-modify-write, as Attach's is: callers serialise writes
// about the same image.
//
// Every request is retried on transient failures as RetryOptions(DefaultBackoff)
// says, unless opts carry retry options of their own. opts are used for both
// registries (for example remote.WithAuthFromKeychain and remote.WithTransport); any
// remote.WithContext among them is overridden by ctx.
func Copy(ctx context.Context, src name.Digest, dst name.Repository, tag string, opts ...remote.Option) (Copied, error) {
	if _, err := pinnedHex(src); err != nil {
		return Copied{}, fmt.Errorf("copy %q: %w", src.String(), err)
	}
	if dst.RepositoryStr() == "" {
		return Copied{}, fmt.Errorf("copy %s: %w: empty destination repository", src, ErrInvalidDestination)
	}
	if tag != "" {
		if err := validateTag(dst, tag); err != nil {
			return Copied{}, fmt.Errorf("copy %s: %w", src, err)
		}
	}
	opts = clientOptions(ctx, opts)
	c, err := newClients(opts)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: %w", src, err)
	}

	desc, err := c.puller.Get(ctx, src)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: fetch source manifest: %w", src, markDigestMismatch(err))
	}
	if desc.Digest.String() != src.DigestStr() {
		return Copied{}, fmt.Errorf("copy %s: source registry returned %s: %w", src, desc.Digest, ErrDigestMismatch)
	}
	if desc.MediaType.IsSchema1() {
		return Copied{}, fmt.Errorf("copy %s: docker schema 1 manifests (%s) are not supported; rebuild the image", src, desc.MediaType)
	}
	children, err := listChildren(ctx, c.puller, src.Context(), desc)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: %w", src, err)
	}

	dstDigest := dst.Digest(src.DigestStr())
	if err := c.pusher.Push(ctx, dstDigest, desc); err != nil {
		return Copied{}, fmt.Errorf("copy %s to %s: %w", src, dstDigest, markDigestMismatch(err))
	}
	out := Copied{Digest: dstDigest, Manifests: 1 + len(children)}
	for _, d := range children {
		out.Children = append(out.Children, dst.Digest(d))
	}

	referrersAPI, err := SupportsReferrers(ctx, dst, opts...)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: bundle referrers: %w", src, err)
	}
	for _, d := range append([]string{src.DigestStr()}, children...) {
		subject := src.Context().Digest(d)
		for _, t := range copyAttachmentTags(strings.TrimPrefix(d, "sha256:")) {
			copied, merged, err := copyAttachmentTag(ctx, c, src.Context().Tag(t), dst.Tag(t))
			if err != nil {
				return Copied{}, fmt.Errorf("copy %s: attachment %s: %w", src, t, err)
			}
			if copied {
				out.Attachments++
			}
			if merged {
				out.Merged++
			}
		}
		if referrersAPI {
			n, err := copyBundleReferrers(ctx, c.puller, c.pusher, subject, dst, opts)
			if err != nil {
				return Copied{}, fmt.Errorf("copy %s: bundle referrers of %s: %w", src, d, err)
			}
			out.Referrers += n
		}
	}

	if tag == "" {
		if err := verifyPinned(ctx, c.puller, dstDigest); err != nil {
			return Copied{}, fmt.Errorf("copy %s: check destination: %w", src, err)
		}
		return out, nil
	}
	if err := tagPinned(ctx, c, dstDigest, tag); err != nil {
		return Copied{}, fmt.Errorf("copy %s: %w", src, err)
	}
	return out, nil
}

// Tag points the tag of d's repository at the manifest d pins, as the last step of a
// promotion: it asks the registry for d (HEAD) and refuses, with ErrDigestMismatch,
// unless the registry answers exactly d's digest; it refuses with ErrSubjectNotFound
// where the registry does not hold d. Only then does it write the tag (PUT), with the
// manifest read back from d and checked against the digest. A tag that already names
// d is left as it is. The tag is validated as Copy validates it (ErrInvalidDestination).
//
// Requests are retried as Copy's are; opts configure the registry client, and any
// remote.WithContext among them is overridden by ctx.
func Tag(ctx context.Context, d name.Digest, tag string, opts ...remote.Option) error {
	if _, err := pinnedHex(d); err != nil {
		return fmt.Errorf("tag %q: %w", d.String(), err)
	}
	if err := validateTag(d.Context(), tag); err != nil {
		return fmt.Errorf("tag %s: %w", d, err)
	}
	c, err := newClients(clientOptions(ctx, opts))
	if err != nil {
		return fmt.Errorf("tag %s: %w", d, err)
	}
	return tagPinned(ctx, c, d, tag)
}

// tagPinned is Tag after validation, and Copy's last step.
func tagPinned(ctx context.Context, c clients, d name.Digest, tag string) error {
	if err := verifyPinned(ctx, c.puller, d); err != nil {
		return fmt.Errorf("tag %s: %w", d.Context().Tag(tag), err)
	}
	t := d.Context().Tag(tag)
	cur, err := c.puller.Head(ctx, t)
	switch {
	case err == nil && cur.Digest.String() == d.DigestStr():
		return nil
	case err != nil && !isNotFound(err):
		return fmt.Errorf("tag %s: look up the tag: %w", t, err)
	}
	desc, err := c.puller.Get(ctx, d)
	if err != nil {
		return fmt.Errorf("tag %s: read %s: %w", t, d.DigestStr(), markDigestMismatch(err))
	}
	if desc.Digest.String() != d.DigestStr() {
		return fmt.Errorf("tag %s: registry returned %s for %s: %w", t, desc.Digest, d.DigestStr(), ErrDigestMismatch)
	}
	if err := c.pusher.Put(ctx, t, desc); err != nil {
		return fmt.Errorf("tag %s: %w", t, err)
	}
	return nil
}

// verifyPinned checks that the registry holds d and answers exactly d's digest for it.
func verifyPinned(ctx context.Context, puller *remote.Puller, d name.Digest) error {
	head, err := puller.Head(ctx, d)
	if isNotFound(err) {
		return fmt.Errorf("%s: %w", d, ErrSubjectNotFound)
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", d, markDigestMismatch(err))
	}
	if head.Digest.String() != d.DigestStr() {
		return fmt.Errorf("registry answered %s for %s: %w", head.Digest, d, ErrDigestMismatch)
	}
	return nil
}

// validateTag checks that tag is a tag name (letters, digits, '_', '.' and '-').
func validateTag(repo name.Repository, tag string) error {
	t, err := name.NewTag(repo.Name() + ":" + tag)
	if err == nil && t.TagStr() != tag {
		err = errors.New("use letters, digits, '_', '.' and '-'")
	}
	if err != nil {
		return fmt.Errorf("%w: tag %q: %w", ErrInvalidDestination, tag, err)
	}
	return nil
}

// markDigestMismatch adds ErrDigestMismatch to err where err is go-containerregistry
// reporting that a registry answered another digest than the one asked for (a HEAD's
// Docker-Content-Digest, or a manifest's content), which it does with an error of no
// particular type.
func markDigestMismatch(err error) error {
	if err != nil && !errors.Is(err, ErrDigestMismatch) && strings.Contains(err.Error(), "does not match requested digest") {
		return fmt.Errorf("%w: %w", ErrDigestMismatch, err)
	}
	return err
}

// listChildren returns the digests of the manifests the index desc lists, recursively
// (depth first, in index order, each once), reading nested indexes from repo; an image
// lists none. Entries that are neither images nor indexes are left out.
func listChildren(ctx context.Context, puller *remote.Puller, repo name.Repository, desc *remote.Descriptor) ([]string, error) {
	var out []string
	seen := map[string]bool{desc.Digest.String(): true}
	var walk func(d *remote.Descriptor, depth int) error
	walk = func(d *remote.Descriptor, depth int) error {
		if !d.MediaType.IsIndex() {
			return nil
		}
		if depth > maxIndexDepth {
			return fmt.Errorf("%w: index %s nests more than %d deep", ErrUnexpectedManifest, d.Digest, maxIndexDepth)
		}
		if len(d.Manifest) > maxManifestSize {
			return fmt.Errorf("%w: index %s of %d bytes exceeds %d", ErrUnexpectedManifest, d.Digest, len(d.Manifest), maxManifestSize)
		}
		im, err := v1.ParseIndexManifest(bytes.NewReader(d.Manifest))
		if err != nil {
			return fmt.Errorf("%w: index %s: %w", ErrUnexpectedManifest, d.Digest, err)
		}
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() && !m.MediaType.IsIndex() || seen[m.Digest.String()] {
				continue
			}
			if m.Digest.Algorithm != "sha256" || len(m.Digest.Hex) != 64 {
				return fmt.Errorf("%w: index %s lists %s; only sha256 digests are accepted", ErrUnexpectedManifest, d.Digest, m.Digest)
			}
			seen[m.Digest.String()] = true
			out = append(out, m.Digest.String())
			if len(out) > maxCopyManifests {
				return fmt.Errorf("%w: index %s lists more than %d manifests", ErrUnexpectedManifest, desc.Digest, maxCopyManifests)
			}
			if m.MediaType.IsIndex() {
				child, err := puller.Get(ctx, repo.Digest(m.Digest.String()))
				if err != nil {
					return fmt.Errorf("fetch index %s: %w", m.Digest, markDigestMismatch(err))
				}
				if err := walk(child, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(desc, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// isNotFound reports whether err is a registry's answer that a manifest does not exist.
func isNotFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.ManifestUnknownErrorCode {
			return true
		}
	}
	return false
}

// pinnedHex returns the hex part of d's sha256 digest, or ErrNotPinned.
func pinnedHex(d name.Digest) (string, error) {
	hex, ok := strings.CutPrefix(d.DigestStr(), "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" || d.RepositoryStr() == "" {
		return "", ErrNotPinned
	}
	return hex, nil
}

// ParsePinned parses s as registry/repository@sha256:<hex>, refusing references that are
// not pinned by a digest (a tag alone is mutable: what it names can change between the
// decision and the copy).
func ParsePinned(s string, opts ...name.Option) (name.Digest, error) {
	if !strings.Contains(s, "@") {
		return name.Digest{}, fmt.Errorf("%q: %w; use registry/repository@sha256:<hex>", s, ErrNotPinned)
	}
	d, err := name.NewDigest(s, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%q: %w: %w", s, ErrNotPinned, err)
	}
	if _, err := pinnedHex(d); err != nil {
		return name.Digest{}, fmt.Errorf("%q: %w; use registry/repository@sha256:<hex>", s, err)
	}
	return d, nil
}

// ParseDestination splits a promotion destination, registry/repository[:tag], into the
// repository and the tag ("" when there is none). A destination pinned by digest is
// refused: the digest comes from the source.
func ParseDestination(s string, opts ...name.Option) (name.Repository, string, error) {
	if s == "" {
		return name.Repository{}, "", fmt.Errorf("%w: empty; use registry/repository[:tag]", ErrInvalidDestination)
	}
	if strings.Contains(s, "@") {
		return name.Repository{}, "", fmt.Errorf("%w %q: a destination takes no digest; use registry/repository[:tag]", ErrInvalidDestination, s)
	}
	if strings.Contains(s, "://") {
		return name.Repository{}, "", fmt.Errorf("%w %q: no URL scheme; use registry/repository[:tag]", ErrInvalidDestination, s)
	}
	// A ':' after the last '/' starts a tag; one before it is a registry port.
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		t, err := name.NewTag(s, opts...)
		if err != nil {
			return name.Repository{}, "", fmt.Errorf("%w %q: %w", ErrInvalidDestination, s, err)
		}
		return t.Context(), t.TagStr(), nil
	}
	r, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, "", fmt.Errorf("%w %q: %w", ErrInvalidDestination, s, err)
	}
	return r, "", nil
}

package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Errors Copy returns for inputs it refuses; callers branch on them with errors.Is.
var (
	// ErrNotPinned: a source reference is not pinned by a sha256 digest.
	ErrNotPinned = errors.New("reference is not pinned by a sha256 digest")
	// ErrDigestMismatch: the registry holds a manifest whose digest is not the one asked for.
	ErrDigestMismatch = errors.New("manifest digest does not match")
	// ErrInvalidDestination: a destination is not a repository with an optional tag.
	ErrInvalidDestination = errors.New("invalid destination")
)

// Copied describes what Copy put in the destination repository.
type Copied struct {
	// Digest is the destination repository pinned by the copied manifest's digest.
	Digest name.Digest
	// Attachments counts the cosign attachment manifests (.att, .sig, and the referrers
	// fallback tag) copied along with the image.
	Attachments int
	// Referrers counts the Sigstore bundle referrers copied along with the image (only to
	// a destination registry with the OCI referrers API).
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

// Copy copies the image or index src names, and its cosign attachments, to dst. It
// copies by digest only: the manifest is written to dst@digest, the destination's
// manifest digest is checked against src's, and only then, when tag is not empty, is
// dst:tag pointed at it, so a tag never names a half-copied image. Attachments are
// copied by tag, from the same tags in src's repository, where present, and when dst's
// registry implements the OCI referrers API, src's Sigstore bundle referrers are copied
// by digest (see ReadBundleReferrers for which referrers are bundles).
//
// opts are used for both registries (for example remote.WithAuthFromKeychain and
// remote.WithTransport); any remote.WithContext among them is overridden by ctx.
func Copy(ctx context.Context, src name.Digest, dst name.Repository, tag string, opts ...remote.Option) (Copied, error) {
	hex, err := pinnedHex(src)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %q: %w", src.String(), err)
	}
	if dst.RepositoryStr() == "" {
		return Copied{}, fmt.Errorf("copy %s: %w: empty destination repository", src, ErrInvalidDestination)
	}
	if tag != "" {
		t, err := name.NewTag(dst.Name() + ":" + tag)
		if err == nil && t.TagStr() != tag {
			err = errors.New("use letters, digits, '_', '.' and '-'")
		}
		if err != nil {
			return Copied{}, fmt.Errorf("copy %s: %w: tag %q: %w", src, ErrInvalidDestination, tag, err)
		}
	}
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: registry client: %w", src, err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: registry client: %w", src, err)
	}

	desc, err := puller.Get(ctx, src)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: fetch source manifest: %w", src, err)
	}
	if desc.Digest.String() != src.DigestStr() {
		return Copied{}, fmt.Errorf("copy %s: source registry returned %s: %w", src, desc.Digest, ErrDigestMismatch)
	}
	if desc.MediaType.IsSchema1() {
		return Copied{}, fmt.Errorf("copy %s: docker schema 1 manifests (%s) are not supported; rebuild the image", src, desc.MediaType)
	}
	dstDigest := dst.Digest(src.DigestStr())
	if err := pusher.Push(ctx, dstDigest, desc); err != nil {
		return Copied{}, fmt.Errorf("copy %s to %s: %w", src, dstDigest, err)
	}

	attached := 0
	for _, t := range copyAttachmentTags(hex) {
		ok, err := copyTagIfPresent(ctx, puller, pusher, src.Context().Tag(t), dst.Tag(t))
		if err != nil {
			return Copied{}, fmt.Errorf("copy %s: attachment %s: %w", src, t, err)
		}
		if ok {
			attached++
		}
	}

	referrers, err := copyBundleReferrers(ctx, puller, pusher, src, dst, opts)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: bundle referrers: %w", src, err)
	}

	head, err := puller.Head(ctx, dstDigest)
	if err != nil {
		return Copied{}, fmt.Errorf("copy %s: check destination %s: %w", src, dstDigest, err)
	}
	if head.Digest.String() != src.DigestStr() {
		return Copied{}, fmt.Errorf("copy %s: destination holds %s: %w", src, head.Digest, ErrDigestMismatch)
	}

	if tag != "" {
		if err := pusher.Put(ctx, dst.Tag(tag), desc); err != nil {
			return Copied{}, fmt.Errorf("copy %s: tag %s: %w", src, dst.Tag(tag), err)
		}
	}
	return Copied{Digest: dstDigest, Attachments: attached, Referrers: referrers}, nil
}

// copyTagIfPresent copies the manifest (and what it references) that from names to to.
// It reports false, without error, when from does not exist.
func copyTagIfPresent(ctx context.Context, puller *remote.Puller, pusher *remote.Pusher, from, to name.Tag) (bool, error) {
	desc, err := puller.Get(ctx, from)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fetch %s: %w", from, err)
	}
	if err := pusher.Push(ctx, to, desc); err != nil {
		return false, fmt.Errorf("write %s: %w", to, err)
	}
	return true, nil
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

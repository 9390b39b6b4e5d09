package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/sbom"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// maxDetail bounds the failure detail carried in an event.
const maxDetail = 1024

// maxImageRef bounds the image reference of a build event.
const maxImageRef = 1024

// errImage marks failures of the image itself (missing, not matching its digest, not a
// readable container image): retrying cannot help, so a FAILED scan is published.
var errImage = errors.New("image cannot be scanned")

// handleBuild scans the image a build event names and publishes the result.
func (s *Service) handleBuild(ctx context.Context, msg *events.Message) error {
	var b eventsv1.BuildCompleted
	if err := msg.Decode(&b); err != nil {
		return err
	}
	ref, err := s.validate(&b)
	if err != nil {
		return events.Permanent(fmt.Errorf("build event %s: %w", msg.ID, err))
	}
	log := s.o.log.With("event", msg.ID, "image", b.Image, "digest", b.Digest)

	res, err := s.scan(ctx, ref)
	if err != nil {
		if !errors.Is(err, errImage) {
			return fmt.Errorf("scan %s: %w", b.Image, err)
		}
		detail := err.Error()
		if len(detail) > maxDetail {
			detail = detail[:maxDetail]
		}
		if err := s.publish(ctx, &eventsv1.ScanCompleted{
			Image: b.GetImage(), Digest: b.GetDigest(), Status: eventsv1.ScanStatus_SCAN_STATUS_FAILED,
			Detail: detail, Scanner: sbom.Scanner(), BuildEventId: msg.ID,
		}); err != nil {
			return err
		}
		log.WarnContext(ctx, "image scan failed", "detail", detail)
		return nil
	}

	stored, err := s.blobs.Put(ctx, sbom.MediaType, res.Document)
	if err != nil {
		return fmt.Errorf("store SBOM of %s: %w", b.Image, err)
	}
	sc := &eventsv1.ScanCompleted{
		Image:        b.GetImage(),
		Digest:       b.GetDigest(),
		Status:       res.Status,
		Sbom:         &eventsv1.BlobRef{Digest: stored.Digest, MediaType: stored.MediaType, Size: stored.Size},
		PackageCount: int32(min(res.Packages, 1<<31-1)),
		Scanner:      res.Scanner,
		BuildEventId: msg.ID,
	}
	if res.Status == eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE {
		sc.Detail = "every layer was read but no operating system or package was recognised; the absence of findings means nothing"
	}
	if err := s.publish(ctx, sc); err != nil {
		return err
	}
	log.InfoContext(ctx, "image scanned", "status", res.Status.String(), "packages", res.Packages, "os", res.OS,
		"sbom", stored.Digest, "sbom_size", stored.Size)
	return nil
}

// validate checks that the build event names an image pinned by digest and that its
// digest field agrees with the reference.
func (s *Service) validate(b *eventsv1.BuildCompleted) (name.Digest, error) {
	switch {
	case b.GetImage() == "":
		return name.Digest{}, errors.New("no image reference: send the image pinned by digest (registry/repository@sha256:<hex>)")
	case len(b.GetImage()) > maxImageRef:
		return name.Digest{}, fmt.Errorf("image reference of %d bytes is longer than %d", len(b.GetImage()), maxImageRef)
	}
	ref, err := name.NewDigest(b.GetImage(), s.o.name...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %q is not pinned by digest (registry/repository@sha256:<hex>): %w", b.GetImage(), err)
	}
	if !blob.ValidDigest(b.GetDigest()) {
		return name.Digest{}, fmt.Errorf("digest %q is not sha256:<64 lowercase hex>", b.GetDigest())
	}
	if ref.DigestStr() != b.GetDigest() {
		return name.Digest{}, fmt.Errorf("image %q is pinned to %s but the event's digest is %s", b.GetImage(), ref.DigestStr(), b.GetDigest())
	}
	return ref, nil
}

// scan pulls the image by digest and catalogues it. Errors wrap errImage when the image
// itself is at fault.
func (s *Service) scan(ctx context.Context, ref name.Digest) (*sbom.Result, error) {
	img, err := s.pull(ctx, ref)
	if err != nil {
		return nil, err
	}
	res, err := s.cat.Scan(ctx, img, sbom.WithReference(ref.String()))
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, sbom.ErrLimitExceeded), errors.Is(err, sbom.ErrInvalidImage),
		errors.Is(err, sbom.ErrFetch) && imageAtFault(err):
		return nil, fmt.Errorf("%w: %w", errImage, err)
	default:
		return nil, err
	}
}

// pull fetches the manifest by digest and checks that it is the one asked for. For an
// image index, the image for the configured platform (remote.WithPlatform, default
// linux/amd64) is scanned.
func (s *Service) pull(ctx context.Context, ref name.Digest) (v1.Image, error) {
	opts := append([]remote.Option{remote.WithContext(ctx)}, s.o.remote...)
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, pullError(ref, err)
	}
	if got := desc.Digest.String(); got != ref.DigestStr() {
		return nil, fmt.Errorf("%w: registry returned manifest %s for %s", errImage, got, ref)
	}
	switch desc.MediaType {
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return nil, fmt.Errorf("%w: %s is a Docker schema 1 manifest, which cannot be verified by digest; rebuild the image", errImage, ref)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, pullError(ref, err)
	}
	if !desc.MediaType.IsIndex() {
		d, err := img.Digest()
		if err != nil {
			return nil, pullError(ref, err)
		}
		if d.String() != ref.DigestStr() {
			return nil, fmt.Errorf("%w: pulled image %s for %s", errImage, d, ref)
		}
	}
	return img, nil
}

func pullError(ref name.Digest, err error) error {
	if imageAtFault(err) {
		return fmt.Errorf("%w: pull %s: %w", errImage, ref, err)
	}
	return fmt.Errorf("pull %s: %w", ref, err)
}

// imageAtFault reports whether an error reading from the registry says the image is
// missing or unusable (so retrying cannot help), as opposed to the registry or network
// being unavailable or refusing us for now.
func imageAtFault(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusGone:
			return true
		}
		// 401/403 (credentials), 408, 429 and 5xx may be fixed by waiting or by an operator.
		return false
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	// What is left are content errors: a manifest that does not hash to its digest,
	// malformed JSON, a layer failing its checksum, no image for the platform.
	return true
}

func (s *Service) publish(ctx context.Context, sc *eventsv1.ScanCompleted) error {
	if _, err := s.bus.Publish(ctx, events.Event{Type: events.TypeScanCompleted, Subject: sc.GetDigest(), Data: sc}); err != nil {
		return fmt.Errorf("publish scan of %s: %w", sc.GetImage(), err)
	}
	return nil
}

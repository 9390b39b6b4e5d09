package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/pkg/scan"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// mediaTypeJSON is the media type of the vulns and secrets predicates in the blob store.
const mediaTypeJSON = "application/json"

// maxDetail bounds the failure detail carried in an event.
const maxDetail = 1024

// maxImageRef bounds the image reference of a build event.
const maxImageRef = 1024

// errImage marks failures of the image itself (missing, not matching its digest, not a
// readable container image): retrying cannot help, so a FAILED scan is published.
var errImage = errors.New("image cannot be scanned")

// handleBuild scans the image a build event names and publishes the result: one scan
// event for an image; for an image index, one per platform image and one for the index.
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

	desc, err := s.pull(ctx, ref)
	if err != nil {
		if !errors.Is(err, errImage) {
			return fmt.Errorf("scan %s: %w", b.Image, err)
		}
		return s.publishFailed(ctx, log, msg.ID, ref, err)
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return s.publishFailed(ctx, log, msg.ID, ref, pullError(ref, err))
		}
		r, err := s.scanner.Image(ctx, img, ref.String())
		if err != nil {
			return fmt.Errorf("scan %s: %w", b.Image, err)
		}
		if r.Digest != ref.DigestStr() {
			return s.publishFailed(ctx, log, msg.ID, ref, fmt.Errorf("%w: pulled image %s for %s", errImage, r.Digest, ref))
		}
		return s.publishResult(ctx, log, msg.ID, r, "")
	}

	idx, err := desc.ImageIndex()
	if err != nil {
		return s.publishFailed(ctx, log, msg.ID, ref, pullError(ref, err))
	}
	results, err := s.scanner.Index(ctx, idx, ref.Context().Name())
	switch {
	case errors.Is(err, scan.ErrImage):
		return s.publishFailed(ctx, log, msg.ID, ref, err)
	case err != nil:
		return fmt.Errorf("scan %s: %w", b.Image, err)
	}
	for _, r := range results {
		if err := s.publishResult(ctx, log, msg.ID, r, ref.DigestStr()); err != nil {
			return err
		}
	}
	return s.publishIndex(ctx, log, msg.ID, ref, results)
}

// publishResult stores a scan's documents and publishes its event. indexDigest names the
// index a platform image was scanned as part of.
func (s *Service) publishResult(ctx context.Context, log *slog.Logger, buildID string, r *scan.Result, indexDigest string) error {
	sc := &eventsv1.ScanCompleted{
		Image: r.Reference, Digest: r.Digest, Status: r.Status, Detail: truncate(r.Detail), Scanner: sbom.Scanner(),
		BuildEventId: buildID, Platform: r.Platform, IndexDigest: indexDigest,
	}
	if r.SBOM != nil {
		ref, err := s.put(ctx, sbom.MediaType, r.SBOM.Document, "SBOM", r.Reference)
		if err != nil {
			return err
		}
		sc.Sbom = ref
		sc.PackageCount = int32(min(len(r.Packages), 1<<31-1))
		sc.Scanner = r.SBOM.Scanner
	}
	if r.SecretsPredicate != nil {
		ref, err := s.put(ctx, mediaTypeJSON, r.SecretsPredicate, "secrets report", r.Reference)
		if err != nil {
			return err
		}
		sc.Secrets, sc.SecretCount = ref, int32(min(r.SecretCount(), 1<<31-1))
	}
	if r.VulnsPredicate != nil {
		ref, err := s.put(ctx, mediaTypeJSON, r.VulnsPredicate, "vulnerability report", r.Reference)
		if err != nil {
			return err
		}
		sc.Vulns, sc.VulnerabilityCount = ref, int32(min(r.AffectedCount(), 1<<31-1))
	}
	if err := s.publish(ctx, sc); err != nil {
		return err
	}
	attrs := []any{"scanned", r.Reference, "platform", r.Platform, "status", r.Status.String(), "packages", len(r.Packages), "os", r.OS,
		"secrets", r.SecretCount(), "vulnerabilities", r.AffectedCount(), "vulnerability_report", sc.Vulns != nil}
	if sc.Sbom != nil {
		attrs = append(attrs, "sbom", sc.Sbom.Digest, "sbom_size", sc.Sbom.Size)
	}
	if r.Status == eventsv1.ScanStatus_SCAN_STATUS_FAILED {
		log.WarnContext(ctx, "image scan failed", append(attrs, "detail", sc.Detail)...)
	} else {
		log.InfoContext(ctx, "image scanned", attrs...)
	}
	return nil
}

// publishIndex publishes the scan of an index as a whole: every platform's packages in
// one SBOM about the index digest, FAILED if any platform failed.
func (s *Service) publishIndex(ctx context.Context, log *slog.Logger, buildID string, ref name.Digest, results []*scan.Result) error {
	status := scan.IndexStatus(results)
	sc := &eventsv1.ScanCompleted{
		Image: ref.String(), Digest: ref.DigestStr(), Status: status, Scanner: sbom.Scanner(), BuildEventId: buildID,
	}
	var platforms []string
	total := 0
	for _, r := range results {
		platforms = append(platforms, r.Platform+" "+r.StatusName())
		total += len(r.Packages)
	}
	switch status {
	case eventsv1.ScanStatus_SCAN_STATUS_FAILED:
		for _, r := range results {
			if r.Status == eventsv1.ScanStatus_SCAN_STATUS_FAILED {
				sc.Detail = truncate(fmt.Sprintf("platform %s (%s) failed: %s", r.Platform, r.Digest, r.Detail))
				break
			}
		}
	default:
		doc, err := scan.IndexSBOM(ref.DigestStr(), ref.Context().Name(), sbom.Scanner(), results)
		if err != nil {
			return fmt.Errorf("scan %s: %w", ref, err)
		}
		if sc.Sbom, err = s.put(ctx, sbom.MediaType, doc, "index SBOM", ref.String()); err != nil {
			return err
		}
		sc.PackageCount = int32(min(total, 1<<31-1))
		sc.Detail = "index of " + strings.Join(platforms, ", ")
		if status == eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE {
			sc.Detail = truncate(sc.Detail + ": a platform had no recognised operating system or package; the absence of findings means nothing")
		}
	}
	if err := s.publish(ctx, sc); err != nil {
		return err
	}
	log.InfoContext(ctx, "image index scanned", "status", status.String(), "platforms", strings.Join(platforms, ", "), "packages", total)
	return nil
}

// publishFailed publishes a FAILED scan of the image ref for a failure of the image itself.
func (s *Service) publishFailed(ctx context.Context, log *slog.Logger, buildID string, ref name.Digest, cause error) error {
	detail := truncate(cause.Error())
	if err := s.publish(ctx, &eventsv1.ScanCompleted{
		Image: ref.String(), Digest: ref.DigestStr(), Status: eventsv1.ScanStatus_SCAN_STATUS_FAILED,
		Detail: detail, Scanner: sbom.Scanner(), BuildEventId: buildID,
	}); err != nil {
		return err
	}
	log.WarnContext(ctx, "image scan failed", "detail", detail)
	return nil
}

func (s *Service) put(ctx context.Context, mediaType string, doc []byte, what, image string) (*eventsv1.BlobRef, error) {
	stored, err := s.blobs.Put(ctx, mediaType, doc)
	if err != nil {
		return nil, fmt.Errorf("store %s of %s: %w", what, image, err)
	}
	return &eventsv1.BlobRef{Digest: stored.Digest, MediaType: stored.MediaType, Size: stored.Size}, nil
}

func truncate(detail string) string {
	if len(detail) > maxDetail {
		return detail[:maxDetail]
	}
	return detail
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

// pull fetches the manifest by digest and checks that it is the one asked for.
func (s *Service) pull(ctx context.Context, ref name.Digest) (*remote.Descriptor, error) {
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
	return desc, nil
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

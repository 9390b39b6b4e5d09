package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/buildevent"
	"github.com/custody-dev/custody/pkg/oci"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

const maxRequestedBy = 256

// PromotionRequest is the JSON body of POST /v1/promotions.
type PromotionRequest struct {
	// Image is the image to promote, pinned by digest.
	Image string `json:"image"`
	// Destination is registry/repository with an optional :tag, without a digest. The
	// registry must be named explicitly.
	Destination string `json:"destination"`
	// RequestedBy says who asked, for the record.
	RequestedBy string `json:"requestedBy,omitempty"`
}

// resolver pins an image reference given by tag to the digest the tag names now.
type resolver func(ctx context.Context, ref string) (name.Digest, error)

// parsePromotion validates a promotion request body; the request id is left empty. An
// image given by tag is resolved once, with resolve, and pinned: everything after this
// (decision, copy) acts on that digest, wherever the tag moves later. With a nil resolve,
// a tag is refused. resolvedFrom is the tag reference, when one was resolved.
func parsePromotion(ctx context.Context, body []byte, resolve resolver) (req *eventsv1.PromotionRequested, resolvedFrom string, err error) {
	var in PromotionRequest
	if err := buildevent.DecodeStrict(body, &in); err != nil {
		return nil, "", err
	}
	if resolve != nil && in.Image != "" && !strings.Contains(in.Image, "@") {
		if len(in.Image) > maxImageRef {
			return nil, "", &buildevent.FieldError{Field: "image", Problem: fmt.Sprintf("is longer than %d characters", maxImageRef)}
		}
		d, err := resolve(ctx, in.Image)
		if err != nil {
			return nil, "", &buildevent.FieldError{Field: "image", Problem: fmt.Sprintf(
				"tag %q could not be resolved to a digest: %v; push the image or send it pinned, registry/repository@sha256:<hex>", in.Image, err)}
		}
		resolvedFrom, in.Image = in.Image, d.String()
	}
	out, err := in.toProto()
	return out, resolvedFrom, err
}

const maxImageRef = 1024

// registryResolver resolves tags with a HEAD request to the registry.
func registryResolver(opts []remote.Option) resolver {
	return func(ctx context.Context, ref string) (name.Digest, error) {
		tag, err := name.NewTag(ref, name.StrictValidation)
		if err != nil {
			return name.Digest{}, fmt.Errorf("not a registry/repository:tag reference: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		desc, err := remote.Head(tag, append(slices.Clone(opts), remote.WithContext(ctx))...)
		if err != nil {
			return name.Digest{}, err
		}
		if desc.Digest.Algorithm != "sha256" {
			return name.Digest{}, fmt.Errorf("the registry answered digest %s; only sha256 is accepted", desc.Digest)
		}
		return tag.Context().Digest(desc.Digest.String()), nil
	}
}

func (req PromotionRequest) toProto() (*eventsv1.PromotionRequested, error) {
	var errs []error
	out := &eventsv1.PromotionRequested{}
	if img, problem := buildevent.ParseImage(req.Image); problem != "" {
		errs = append(errs, &buildevent.FieldError{Field: "image", Problem: problem})
	} else {
		out.Image, out.Digest = img.Name(), img.DigestStr()
	}
	if req.Destination == "" {
		errs = append(errs, &buildevent.FieldError{Field: "destination", Problem: "is required: registry/repository[:tag]"})
	} else if repo, tag, err := oci.ParseDestination(req.Destination, name.StrictValidation); err != nil {
		errs = append(errs, &buildevent.FieldError{Field: "destination", Problem: fmt.Sprintf(
			"%v; name the registry explicitly, for example registry.example.com/team/app:v1", err)})
	} else {
		out.Destination = repo.Name()
		if tag != "" {
			out.Destination += ":" + tag
		}
	}
	if len(req.RequestedBy) > maxRequestedBy {
		errs = append(errs, &buildevent.FieldError{Field: "requestedBy", Problem: fmt.Sprintf("is longer than %d characters", maxRequestedBy)})
	} else if hasControl(req.RequestedBy) {
		errs = append(errs, &buildevent.FieldError{Field: "requestedBy", Problem: "contains control characters"})
	} else {
		out.RequestedBy = req.RequestedBy
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return true
		}
	}
	return false
}

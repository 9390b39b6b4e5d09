package ingest

import (
	"errors"
	"fmt"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"

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

// parsePromotion validates a promotion request body; the request id is left empty.
func parsePromotion(body []byte) (*eventsv1.PromotionRequested, error) {
	var req PromotionRequest
	if err := buildevent.DecodeStrict(body, &req); err != nil {
		return nil, err
	}
	return req.toProto()
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

package ledger

import "time"

// MergePromotion applies an update to a promotion row (nil when there is none yet) and
// reports whether the row changed. Every Store uses it, so that all of them advance
// promotions alike:
//
//   - the status moves only to a higher Rank (a late "requested" never undoes
//     "completed"; of two statuses of one rank, the first recorded stays);
//   - any field the row lacks is filled in from the update; recorded fields are kept.
//
// UpdatedAt is set to now when the row changed.
func MergePromotion(old *Promotion, upd Promotion, now time.Time) (Promotion, bool) {
	if old == nil {
		upd.UpdatedAt = now.UTC()
		return upd, true
	}
	p := *old
	if upd.Status.Rank() > p.Status.Rank() {
		p.Status = upd.Status
	}
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&p.Digest, upd.Digest)
	fill(&p.SourceImage, upd.SourceImage)
	fill(&p.Destination, upd.Destination)
	fill(&p.RequestedBy, upd.RequestedBy)
	fill(&p.DestinationImage, upd.DestinationImage)
	fill(&p.Error, upd.Error)
	fillTime := func(dst *time.Time, src time.Time) {
		if dst.IsZero() {
			*dst = src
		}
	}
	fillTime(&p.RequestedAt, upd.RequestedAt)
	fillTime(&p.DecidedAt, upd.DecidedAt)
	fillTime(&p.FinishedAt, upd.FinishedAt)
	changed := p.Status != old.Status || p.Digest != old.Digest || p.SourceImage != old.SourceImage ||
		p.Destination != old.Destination || p.RequestedBy != old.RequestedBy ||
		p.DestinationImage != old.DestinationImage || p.Error != old.Error ||
		!p.RequestedAt.Equal(old.RequestedAt) || !p.DecidedAt.Equal(old.DecidedAt) || !p.FinishedAt.Equal(old.FinishedAt)
	if changed {
		p.UpdatedAt = now.UTC()
	}
	return p, changed
}

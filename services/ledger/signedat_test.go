package ledger

import (
	"testing"
	"time"
)

func TestSignedAt(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		event time.Time
		want  time.Time
	}{
		{"event time in the past is believed", now.Add(-48 * time.Hour), now.Add(-48 * time.Hour)},
		{"event time in the future is capped at receipt", now.Add(time.Hour), now},
		{"missing event time is now", time.Time{}, now},
		{"event time equal to now", now, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := signedAt(tc.event, now); !got.Equal(tc.want) {
				t.Fatalf("signedAt(%s, %s) = %s, want %s", tc.event, now, got, tc.want)
			}
		})
	}
}

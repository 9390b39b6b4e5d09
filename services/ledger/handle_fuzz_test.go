package ledger

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/ledger"
)

// FuzzHistoryEvent checks that whatever headers a dead-letter record carries, the
// ledger turns it into a history entry the store accepts: a dead letter that cannot be
// recorded is lost, since it must never be dead-lettered again.
func FuzzHistoryEvent(f *testing.F) {
	f.Add("ev-1", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "custody/scanner",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "scanner", "decode failed", "dlq-S-scanner-3", "3", int64(1767225600000000000))
	f.Add("", "", "", "", "", "", "", "", int64(0))
	f.Add("\xff\x00", "sha256:", "\x00", "ff-x", "\xfe", "\x00\xff", "\x00", "-1", int64(-1))
	f.Fuzz(func(t *testing.T, id, subject, source, traceparent, consumer, reason, msgID, seq string, ns int64) {
		hdr := nats.Header{}
		hdr.Set(events.HeaderDLQConsumer, consumer)
		hdr.Set(events.HeaderDLQReason, reason)
		hdr.Set(events.HeaderDLQSequence, seq)
		hdr.Set("traceparent", traceparent)
		hdr.Set(jetstream.MsgIDHeader, msgID)
		msg := &events.Message{
			ID: id, Type: events.TypeDeadLetter, Source: source, Subject: subject, Time: time.Unix(0, ns),
			NATSSubject: "custody.dlq." + consumer, StreamSequence: 7, Header: hdr, Data: []byte(reason),
		}
		ev := historyEvent(msg)
		if err := (ledger.RecordEventRequest{Event: ev}).Validate(); err != nil {
			t.Fatalf("dead letter %+v is not recordable: %v", ev, err)
		}
		if ev.Type != events.TypeDeadLetter || ev.DeadLetter == nil {
			t.Fatalf("dead letter recorded as %q", ev.Type)
		}
	})
}

package ledger_test

import (
	"strings"
	"testing"

	"github.com/custody-dev/custody/services/ledger"
)

func TestTraceID(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct{ in, want string }{
		{"00-" + id + "-00f067aa0ba902b7-01", id},
		{"00-" + id + "-00f067aa0ba902b7-00", id},
		{"01-" + id + "-00f067aa0ba902b7-01-future", id},
		{"00-" + id + "-00f067aa0ba902b7-01-extra", ""},
		{"ff-" + id + "-00f067aa0ba902b7-01", ""},
		{"00-" + strings.ToUpper(id) + "-00f067aa0ba902b7-01", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"00-" + id + "-0000000000000000-01", ""},
		{"00-" + id[:31] + "-00f067aa0ba902b7-01", ""},
		{"00-" + id + "-00f067aa0ba902b7", ""},
		{"", ""},
		{"garbage", ""},
		{strings.Repeat("0", 10000), ""},
	} {
		if got := ledger.TraceID(tc.in); got != tc.want {
			t.Errorf("TraceID(%.60q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzTraceID(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("ff-0-0-0")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got := ledger.TraceID(s)
		if got == "" {
			return
		}
		if len(got) != 32 || strings.Trim(got, "0123456789abcdef") != "" || !strings.Contains(s, got) {
			t.Fatalf("TraceID(%q) = %q: not a 32-hex id taken from the input", s, got)
		}
	})
}

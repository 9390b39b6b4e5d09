package ledger

import "strings"

// TraceID returns the trace id of a W3C traceparent header value
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), or "" when the value is
// not a valid traceparent. Future versions may append fields after the flags; version
// ff and all-zero ids are invalid (W3C Trace Context, section 3.2).
func TraceID(traceparent string) string {
	if len(traceparent) > 512 {
		return ""
	}
	parts := strings.Split(traceparent, "-")
	if len(parts) < 4 {
		return ""
	}
	version, traceID, parentID, flags := parts[0], parts[1], parts[2], parts[3]
	if len(version) != 2 || !lowerHex(version) || version == "ff" {
		return ""
	}
	if version == "00" && len(parts) != 4 {
		return ""
	}
	if len(traceID) != 32 || !lowerHex(traceID) || allZero(traceID) {
		return ""
	}
	if len(parentID) != 16 || !lowerHex(parentID) || allZero(parentID) {
		return ""
	}
	if len(flags) != 2 || !lowerHex(flags) {
		return ""
	}
	return traceID
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

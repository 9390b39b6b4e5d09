package imagefs

import (
	"bytes"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// isExecutableMagic reports whether head starts like an ELF, PE or Mach-O file: the only
// MIME types syft's cataloguers query (its ExecutableMIMETypeSet), so only these files
// pay for detection.
func isExecutableMagic(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")), bytes.HasPrefix(head, []byte("MZ")):
		return true
	}
	switch string(head[:4]) {
	case "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe", "\xca\xfe\xba\xbe":
		return true
	}
	return false
}

// detectMIME classifies head as stereoscope does (gabriel-vasile/mimetype, parameters
// dropped).
func detectMIME(head []byte) string {
	m := mimetype.Detect(head).String()
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	return m
}

// ExecutableMIME returns the MIME type of a file starting with head when it is an
// executable (ELF, PE or Mach-O), as Entry.MIME records it, else "".
func ExecutableMIME(head []byte) string {
	if !isExecutableMagic(head) {
		return ""
	}
	return detectMIME(head)
}

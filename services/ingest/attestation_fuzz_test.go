package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/buildevent"
)

// FuzzParseAttestationImport feeds arbitrary bodies to the import request parser: it
// must never panic, must refuse with a *FieldError or the size error, and whatever it
// accepts must be a pinned subject and a bounded JSON object that appears in the body
// byte for byte (the envelope is stored as received, so its digest is the attached
// layer's).
func FuzzParseAttestationImport(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseAttestationImport (a cosign-shaped request, and the
	// edges of the format: null, arrays, trailing data, unknown fields, bad UTF-8).
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseAttestationImport(body)
		if err != nil {
			var fe *buildevent.FieldError
			if !errors.As(err, &fe) && !errors.Is(err, errImportTooLarge) {
				t.Fatalf("error %v (%T) is neither a field error nor the size error", err, err)
			}
			if req.envelope != nil {
				t.Fatal("an envelope came back with an error")
			}
			return
		}
		if !strings.HasPrefix(req.subject.DigestStr(), "sha256:") || len(req.subject.DigestStr()) != 71 {
			t.Fatalf("accepted subject %q is not pinned by sha256", req.subject.String())
		}
		if len(req.envelope) == 0 || req.envelope[0] != '{' || !json.Valid(req.envelope) {
			t.Fatalf("accepted envelope %q is not a JSON object", req.envelope)
		}
		if !bytes.Contains(body, req.envelope) {
			t.Fatalf("accepted envelope %q is not in the body as sent", req.envelope)
		}
		if len(body) > MaxAttestationRequestSize {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
	})
}

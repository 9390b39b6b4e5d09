package auth

import (
	"strings"
	"testing"
)

// FuzzParseBearer feeds the Authorization header parser and the unverified JWT reader
// arbitrary input: neither may panic, and what they accept keeps their promises.
func FuzzParseBearer(f *testing.F) {
	f.Add("Bearer custody_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln")
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJleHAiOjF9.")
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("Bearer  two")
	f.Add("Bearer a=b")
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := ParseBearer(header)
		if err != nil {
			if tok != "" {
				t.Fatal("a token and an error")
			}
			if header != "" && len(header) > 8 && strings.Contains(err.Error(), header) {
				t.Fatalf("error quotes the header: %v", err)
			}
		} else {
			if tok == "" || len(tok) > maxBearer || strings.ContainsAny(tok, " \t\r\n,\"") {
				t.Fatalf("accepted %q", tok)
			}
		}
		for _, raw := range []string{header, tok} {
			j, err := parseJWT(raw)
			if err != nil {
				continue
			}
			if strings.Count(raw, ".") != 2 || len(raw) > maxJWT {
				t.Fatalf("parseJWT accepted %q", raw)
			}
			if j.Claims.Expiry != nil && j.Claims.Expiry.Year() > 5200 {
				t.Fatalf("exp out of range: %v", j.Claims.Expiry)
			}
		}
	})
}

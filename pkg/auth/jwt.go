package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// unverifiedJWT is what parseJWT reads from a compact JWS without verifying anything:
// enough to refuse an algorithm early and to say why go-oidc refused a token. No
// decision rests on it alone.
type unverifiedJWT struct {
	Algorithm string
	KeyID     string
	Claims    jwtClaims
}

type jwtClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    *time.Time
	NotBefore *time.Time
}

var errMalformedJWT = errors.New("is not a well-formed JWT (three base64url parts: header.payload.signature)")

// parseJWT splits and decodes a compact JWS, bounded and strict: exactly three parts of
// unpadded base64url, a JSON object header with a string alg, a JSON object payload
// whose iss, sub, aud, exp and nbf (if present) have their registered types.
func parseJWT(raw string) (unverifiedJWT, error) {
	var j unverifiedJWT
	if len(raw) > maxJWT {
		return j, fmt.Errorf("is longer than %d bytes", maxJWT)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return j, errMalformedJWT
	}
	enc := base64.RawURLEncoding.Strict()
	hdr, err := enc.DecodeString(parts[0])
	if err != nil {
		return j, errMalformedJWT
	}
	payload, err := enc.DecodeString(parts[1])
	if err != nil {
		return j, errMalformedJWT
	}
	if _, err := enc.DecodeString(parts[2]); err != nil {
		return j, errMalformedJWT
	}
	var h struct {
		Alg *string `json:"alg"`
		Kid string  `json:"kid"`
	}
	if err := decodeObject(hdr, &h); err != nil || h.Alg == nil {
		return j, errors.New("header is not a JSON object with a string alg")
	}
	var c struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp *json.Number    `json:"exp"`
		Nbf *json.Number    `json:"nbf"`
	}
	if err := decodeObject(payload, &c); err != nil {
		return j, errors.New("claims are not a JSON object with registered claims of their registered types")
	}
	j.Algorithm, j.KeyID = *h.Alg, h.Kid
	j.Claims.Issuer, j.Claims.Subject = c.Iss, c.Sub
	if len(c.Aud) > 0 && string(c.Aud) != "null" {
		var one string
		if json.Unmarshal(c.Aud, &one) == nil {
			j.Claims.Audience = []string{one}
		} else if err := json.Unmarshal(c.Aud, &j.Claims.Audience); err != nil {
			return j, errors.New("claim aud must be a string or a list of strings")
		}
	}
	if j.Claims.Expiry, err = numericDate("exp", c.Exp); err != nil {
		return j, err
	}
	if j.Claims.NotBefore, err = numericDate("nbf", c.Nbf); err != nil {
		return j, err
	}
	return j, nil
}

// decodeObject decodes a JSON object with numbers kept as json.Number; anything after
// the object is an error.
func decodeObject(data []byte, v any) error {
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// numericDate converts a NumericDate claim (seconds since the epoch, possibly
// fractional) to a time.
func numericDate(name string, n *json.Number) (*time.Time, error) {
	if n == nil {
		return nil, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return nil, fmt.Errorf("claim %s must be a NumericDate (seconds since 1970)", name)
	}
	sec, frac := math.Modf(f)
	t := time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return &t, nil
}

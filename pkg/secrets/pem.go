package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
)

const (
	minPEMBody = 64       // base64 characters: the smallest key (Ed25519 PKCS#8) has 64
	maxPEMBody = 12 << 10 // base64 characters kept for the fingerprint
)

var pemLabels = map[string]string{
	"":           "PKCS8",
	"ENCRYPTED ": "PKCS8",
	"RSA ":       "RSA",
	"EC ":        "EC",
	"DSA ":       "DSA",
	"OPENSSH ":   "OPENSSH",
	"PGP ":       "PGP",
}

func findPEM(w *window) {
	b, at := w.b, w.at
	ls := at
	for ls > 0 && at-ls < 48 && b[ls-1] != '\n' {
		ls--
	}
	i := bytes.LastIndex(b[ls:at], []byte("-----BEGIN "))
	if i < 0 {
		return
	}
	hdr := ls + i
	label := string(b[hdr+len("-----BEGIN ") : at])
	keyType, ok := pemLabels[label]
	if !ok {
		return
	}
	p := at + len("PRIVATE KEY")
	pgp := keyType == "PGP"
	tail := "-----"
	if pgp {
		tail = " BLOCK-----"
	}
	if !bytes.HasPrefix(b[p:], []byte(tail)) {
		return
	}
	k := parsePEMBody(b, p+len(tail), pgp)
	if len(k.body) < minPEMBody || !k.end && len(k.body) < 1024 {
		return
	}
	der := decodePrefix(k.body)
	var enc *bool
	switch {
	case keyType == "OPENSSH":
		e, ok := opensshEncrypted(der)
		if !ok {
			return
		}
		enc = &e
	case pgp:
		e, isKey, known := pgpEncrypted(der)
		if !isKey {
			return
		}
		if known {
			enc = &e
		}
	case label == "ENCRYPTED ":
		if len(der) == 0 || der[0] != 0x30 {
			return
		}
		t := true
		enc = &t
	case k.procEncrypted:
		t := true
		enc = &t
	default:
		if len(der) == 0 || der[0] != 0x30 {
			return
		}
		f := false
		enc = &f
	}
	w.emit(rulePrivateKey, k.body, hdr, keyType, enc)
}

type pemBody struct {
	body          []byte // base64 characters only
	end           bool   // the END line was found
	procEncrypted bool   // a "Proc-Type: 4,ENCRYPTED" header
}

// parsePEMBody reads the base64 lines after a PEM header at b[p]. Lines may end in real
// newlines or in the two characters `\n` (a key inside a JSON or source string) and may
// be quoted.
func parsePEMBody(b []byte, p int, pgp bool) pemBody {
	var k pemBody
	for p < len(b) && len(k.body) <= maxPEMBody {
		line, next := logicalLine(b, p)
		p = next
		t := trimLine(line)
		switch {
		case len(t) == 0:
			if len(k.body) > 0 && !pgp {
				return k
			}
			continue
		case bytes.HasPrefix(t, []byte("-----END ")):
			k.end = true
			return k
		case bytes.IndexByte(t, ':') >= 0:
			if len(k.body) > 0 {
				return k
			}
			if bytes.HasPrefix(t, []byte("Proc-Type:")) && bytes.Contains(t, []byte("ENCRYPTED")) {
				k.procEncrypted = true
			}
			continue
		case pgp && t[0] == '=': // armor checksum
			continue
		}
		for _, c := range t {
			if !isB64(c) && c != '=' {
				return k
			}
		}
		k.body = append(k.body, t...)
	}
	if len(k.body) > maxPEMBody {
		k.body = k.body[:maxPEMBody]
	}
	return k
}

// logicalLine returns the line at b[p] and where the next starts. A backslash escape
// (`\n`, `\r`) ends a line too.
func logicalLine(b []byte, p int) ([]byte, int) {
	for i := p; i < len(b); i++ {
		switch b[i] {
		case '\n':
			return b[p:i], i + 1
		case '\\':
			if i+1 < len(b) && (b[i+1] == 'n' || b[i+1] == 'r') {
				return b[p:i], i + 2
			}
		}
	}
	return b[p:], len(b)
}

// trimLine drops spaces, quotes and string concatenation around a line.
func trimLine(t []byte) []byte {
	for {
		n := len(t)
		t = bytes.Trim(t, " \t\r\"',;")
		if len(t) >= 2 && t[len(t)-1] == '+' && (t[len(t)-2] == ' ' || t[len(t)-2] == '"' || t[len(t)-2] == '\'') {
			t = t[:len(t)-1]
		}
		if len(t) == n {
			return t
		}
	}
}

// decodePrefix decodes up to 2048 base64 characters of body.
func decodePrefix(body []byte) []byte {
	if i := bytes.IndexByte(body, '='); i >= 0 {
		body = body[:i]
	}
	body = body[:min(len(body), 2048)]
	body = body[:len(body)/4*4]
	out := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(out, body)
	if err != nil {
		return nil
	}
	return out[:n]
}

// opensshEncrypted reads the cipher name of an openssh-key-v1 key.
func opensshEncrypted(der []byte) (encrypted, ok bool) {
	const magic = "openssh-key-v1\x00"
	if !bytes.HasPrefix(der, []byte(magic)) || len(der) < len(magic)+4 {
		return false, false
	}
	d := der[len(magic):]
	n := binary.BigEndian.Uint32(d)
	if n == 0 || n > 64 || int(n) > len(d)-4 {
		return false, false
	}
	return string(d[4:4+n]) != "none", true
}

// pgpEncrypted reads the first packet of an armored PGP private key block: whether it
// is a secret key packet, and, for version 4 keys, whether its secret part is
// encrypted (S2K usage octet not zero).
func pgpEncrypted(d []byte) (encrypted, isKey, known bool) {
	if len(d) < 2 || d[0]&0x80 == 0 {
		return false, false, false
	}
	var tag byte
	var p int
	if d[0]&0x40 != 0 {
		tag = d[0] & 0x3f
		switch l := d[1]; {
		case l < 192:
			p = 2
		case l < 224:
			p = 3
		case l == 255:
			p = 6
		default:
			return false, false, false
		}
	} else {
		tag = (d[0] >> 2) & 0x0f
		p = 1 + [4]int{1, 2, 4, 0}[d[0]&3]
	}
	if tag != 5 {
		return false, false, false
	}
	if p+6 > len(d) || d[p] != 4 {
		return false, true, false
	}
	algo := d[p+5]
	p += 6
	mpis := func(n int) bool {
		for ; n > 0; n-- {
			if p+2 > len(d) {
				return false
			}
			bits := int(binary.BigEndian.Uint16(d[p:]))
			p += 2 + (bits+7)/8
		}
		return p <= len(d)
	}
	oid := func() bool {
		if p >= len(d) {
			return false
		}
		p += 1 + int(d[p])
		return p <= len(d)
	}
	var ok bool
	switch algo {
	case 1, 2, 3: // RSA
		ok = mpis(2)
	case 17: // DSA
		ok = mpis(4)
	case 16, 20: // Elgamal
		ok = mpis(3)
	case 19, 22: // ECDSA, EdDSA
		ok = oid() && mpis(1)
	case 18: // ECDH
		ok = oid() && mpis(1) && oid() // the KDF parameters are length-prefixed too
	}
	if !ok || p >= len(d) {
		return false, true, false
	}
	return d[p] != 0, true, true
}

package secrets_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// Every credential in these tests is made here, at run time, from random bytes: none is
// real and none is written into the repository.

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b32    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b64url = alnum + "_-"
	digits = "0123456789"
)

type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) str(charset string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(charset[g.r.IntN(len(charset))])
	}
	return b.String()
}

// mixed is a random string holding digits and both cases, as real tokens do.
func (g *gen) mixed(charset string, n int) string {
	for {
		s := g.str(charset, n)
		if strings.ContainsAny(s, digits) && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") && strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			return s
		}
	}
}

// The public prefixes are split so that no complete token pattern is in the source.
func (g *gen) awsKeyID() string  { return "AK" + "IA" + g.str(b32, 16) }
func (g *gen) awsSecret() string { return g.mixed(alnum+"/+", 40) }
func (g *gen) github(kind string) string {
	return "gh" + kind + "_" + g.mixed(alnum, 36)
}
func (g *gen) githubPAT() string {
	return "github_" + "pat_" + g.mixed(alnum, 22) + "_" + g.mixed(alnum, 59)
}
func (g *gen) gitlab() string { return "gl" + "pat-" + g.mixed(b64url, 20) }
func (g *gen) slack(c string) string {
	return "xo" + "x" + c + "-" + g.str(digits, 11) + "-" + g.str(digits, 12) + "-" + g.mixed(alnum, 24)
}
func (g *gen) stripe(p string) string { return p + "_li" + "ve_" + g.mixed(alnum, 24) }
func (g *gen) googleKey() string      { return "AI" + "za" + g.mixed(b64url, 35) }
func (g *gen) npm() string            { return "np" + "m_" + g.mixed(alnum, 36) }
func (g *gen) pypi() string           { return "py" + "pi-AgEIcHlwaS5vcmc" + g.mixed(b64url, 140) }
func (g *gen) azureKey() string       { return g.mixed(alnum+"+/", 86) + "==" }
func (g *gen) password() string       { return g.mixed(alnum, 10) + "!%" + g.str(digits, 2) }

// pemKeys are private keys made with crypto at run time, PEM-encoded.
type pemKeys struct {
	rsaPKCS1, rsaPKCS8, ec, ed25519, encryptedPKCS8, procEncrypted, dsa string
	openssh, opensshEncrypted, pgp, pgpEncrypted                        string
}

var (
	keysOnce sync.Once
	keys     pemKeys
)

func testKeys(t testing.TB) pemKeys {
	t.Helper()
	keysOnce.Do(func() {
		rk, err := rsa.GenerateKey(crand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ek, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		if err != nil {
			panic(err)
		}
		_, edk, err := ed25519.GenerateKey(crand.Reader)
		if err != nil {
			panic(err)
		}
		p8, _ := x509.MarshalPKCS8PrivateKey(rk)
		ecDER, _ := x509.MarshalECPrivateKey(ek)
		ed8, _ := x509.MarshalPKCS8PrivateKey(edk)
		enc := func(t string, der []byte, h map[string]string) string {
			return string(pem.EncodeToMemory(&pem.Block{Type: t, Headers: h, Bytes: der}))
		}
		// An encrypted PKCS#8 key is a DER SEQUENCE of algorithm and ciphertext; its
		// content is opaque here, so random bytes under a SEQUENCE header do.
		opaque := func(n int) []byte {
			b := make([]byte, n)
			_, _ = crand.Read(b)
			b[0], b[1], b[2], b[3] = 0x30, 0x82, byte((n-4)>>8), byte(n-4)
			return b
		}
		keys = pemKeys{
			rsaPKCS1:       enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk), nil),
			rsaPKCS8:       enc("PRIVATE KEY", p8, nil),
			ec:             enc("EC PRIVATE KEY", ecDER, nil),
			ed25519:        enc("PRIVATE KEY", ed8, nil),
			encryptedPKCS8: enc("ENCRYPTED PRIVATE KEY", opaque(1200), nil),
			procEncrypted: enc("RSA PRIVATE KEY", randomBytes(1190), map[string]string{
				"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF",
			}),
			dsa:              enc("DSA PRIVATE KEY", opaque(440), nil),
			openssh:          enc("OPENSSH PRIVATE KEY", opensshKey("none"), nil),
			opensshEncrypted: enc("OPENSSH PRIVATE KEY", opensshKey("aes256-ctr"), nil),
			pgp:              pgpArmor(pgpSecretKey(0)),
			pgpEncrypted:     pgpArmor(pgpSecretKey(254)),
		}
	})
	return keys
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return b
}

// opensshKey is an openssh-key-v1 structure with the given cipher and random key data.
func opensshKey(cipher string) []byte {
	str := func(b []byte, s []byte) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
	kdf := "none"
	if cipher != "none" {
		kdf = "bcrypt"
	}
	b := []byte("openssh-key-v1\x00")
	b = str(b, []byte(cipher))
	b = str(b, []byte(kdf))
	b = str(b, nil)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = str(b, randomBytes(51))
	b = str(b, randomBytes(160))
	return b
}

// pgpSecretKey is a version 4 RSA secret key packet with random numbers and the given
// S2K usage octet.
func pgpSecretKey(s2k byte) []byte {
	var body []byte
	body = append(body, 4, 0x66, 0, 0, 0, 1) // version, time, RSA
	n := randomBytes(256)
	n[0] |= 0x80
	body = append(body, 0x08, 0x00)
	body = append(body, n...)
	body = append(body, 0x00, 0x11, 0x01, 0x00, 0x01) // e = 65537
	body = append(body, s2k)
	body = append(body, randomBytes(600)...)
	pkt := []byte{0xc5, 0xff}
	pkt = binary.BigEndian.AppendUint32(pkt, uint32(len(body)))
	return append(pkt, body...)
}

func pgpArmor(pkt []byte) string {
	var b strings.Builder
	b.WriteString("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n")
	s := base64.StdEncoding.EncodeToString(pkt)
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----\n")
	return b.String()
}

// pemBody is the base64 body of a PEM block, whose absence from output shows that the
// key was not copied.
func pemBody(p string) string {
	lines := strings.Split(p, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" || strings.HasPrefix(l, "-----") || strings.Contains(l, ":") || strings.HasPrefix(l, "=") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

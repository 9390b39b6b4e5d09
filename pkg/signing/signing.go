package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// PayloadTypeInToto is the DSSE payloadType of in-toto statements.
const PayloadTypeInToto = "application/vnd.in-toto+json"

// PEM block types of private keys this package reads and writes.
const (
	pemEncryptedSigstore = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemEncryptedCosign   = "ENCRYPTED COSIGN PRIVATE KEY" // cosign before v1.13
	pemPublicKey         = "PUBLIC KEY"
)

// maxKeyFile bounds a key file read from disk.
const maxKeyFile = 64 << 10

// Sentinel errors.
var (
	// ErrWrongPassword is returned when an encrypted key cannot be decrypted.
	ErrWrongPassword = errors.New("wrong password for encrypted key")
	// ErrUnsupportedKey is returned for a key that is not ECDSA P-256.
	ErrUnsupportedKey = errors.New("unsupported key type")
)

// Signer signs DSSE envelopes with one ECDSA P-256 key, held in memory or in a KMS. It
// wraps a sigstore signature.SignerVerifier and the key's public half.
type Signer struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	keyID  string
	pubPEM []byte
}

// NewSigner wraps an ECDSA P-256 private key.
func NewSigner(priv crypto.Signer) (*Signer, error) {
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing: %T keys are not supported; use ECDSA P-256", priv)
	}
	if err := checkPublicKey(ec.Public()); err != nil {
		return nil, err
	}
	sv, err := signature.LoadECDSASignerVerifier(ec, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing: load key: %w", err)
	}
	return wrap(sv, ec.Public())
}

// FromSignerVerifier wraps a sigstore SignerVerifier (a KMS key, for instance). Its
// public key must be ECDSA P-256, the algorithm cosign verifies with SHA-256.
func FromSignerVerifier(ctx context.Context, sv signature.SignerVerifier) (*Signer, error) {
	if sv == nil {
		return nil, errors.New("signing: nil signer")
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("signing: fetch public key: %w", err)
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	return wrap(sv, pub)
}

// checkPublicKey refuses every key but ECDSA P-256.
func checkPublicKey(pub crypto.PublicKey) error {
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("signing: %T keys are not supported; use ECDSA P-256: %w", pub, ErrUnsupportedKey)
	}
	if ec.Curve != elliptic.P256() {
		return fmt.Errorf("signing: ECDSA curve %s is not supported; use P-256: %w", ec.Curve.Params().Name, ErrUnsupportedKey)
	}
	return nil
}

func wrap(sv signature.SignerVerifier, pub crypto.PublicKey) (*Signer, error) {
	id, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("signing: encode public key: %w", err)
	}
	return &Signer{sv: sv, pub: pub, keyID: id, pubPEM: pubPEM}, nil
}

// KeyID is the hex sha256 of the signer's PKIX DER public key.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey is the signer's public key.
func (s *Signer) PublicKey() crypto.PublicKey { return s.pub }

// PublicKeyPEM is the PKIX PEM encoding of the signer's public key.
func (s *Signer) PublicKeyPEM() []byte { return bytes.Clone(s.pubPEM) }

// Sign returns a DSSE envelope (JSON) over payload with one signature.
func (s *Signer) Sign(ctx context.Context, payloadType string, payload []byte) ([]byte, error) {
	if payloadType == "" {
		return nil, errors.New("signing: empty payload type")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(dsse.PAE(payloadType, payload)), options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("signing: sign envelope: %w", err)
	}
	env := dsse.Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("signing: encode envelope: %w", err)
	}
	return out, nil
}

// KeyID returns the hex sha256 of pub's PKIX DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// GenerateKey makes an ECDSA P-256 key pair and returns the private key in cosign's
// encrypted format (password may be empty, as with COSIGN_PASSWORD="") and the public
// key as PKIX PEM.
func GenerateKey(password []byte) (privatePEM, publicPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: encode: %w", err)
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: encrypt: %w", err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedSigstore, Bytes: enc}), pubPEM, nil
}

// ParsePrivateKeyPEM reads a cosign-format encrypted key (with password) or an
// unencrypted PKCS#8 / SEC 1 PEM key.
func ParsePrivateKeyPEM(data, password []byte) (crypto.Signer, error) {
	return parsePrivateKeyPEM(data, func() ([]byte, error) { return password, nil })
}

// parsePrivateKeyPEM asks for the password only when the key is encrypted.
func parsePrivateKeyPEM(data []byte, password func() ([]byte, error)) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found; expected a cosign key or a PKCS#8 private key")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case pemEncryptedSigstore, pemEncryptedCosign:
		var pw []byte
		if password != nil {
			if pw, err = password(); err != nil {
				return nil, fmt.Errorf("key password: %w", err)
			}
		}
		der, derr := encrypted.Decrypt(block.Bytes, pw)
		if derr != nil {
			return nil, fmt.Errorf("%w (set CUSTODY_KEY_PASSWORD): %v", ErrWrongPassword, derr)
		}
		key, err = x509.ParsePKCS8PrivateKey(der)
		clear(der)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a supported private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", key)
	}
	return s, nil
}

// LoadSignerFile reads a private key file (see ParsePrivateKeyPEM) and returns a Signer.
func LoadSignerFile(path string, password []byte) (*Signer, error) {
	return loadSignerFile(path, func() ([]byte, error) { return password, nil })
}

func loadSignerFile(path string, password func() ([]byte, error)) (*Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("signing key %s: larger than %d bytes", path, maxKeyFile)
	}
	priv, err := parsePrivateKeyPEM(data, password)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	s, err := NewSigner(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, nil
}

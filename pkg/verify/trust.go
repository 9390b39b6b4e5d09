package verify

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// maxTrustFile bounds a trust file and each public key file it names.
const maxTrustFile = 1 << 20

// TrustFile is the document LoadTrustFile reads:
//
//	keys:
//	  - name: release-2025
//	    publicKey: keys/release-2025.pub   # a path, relative to the trust file, or inline PEM
//	    notAfter: 2026-01-01T00:00:00Z
//	  - name: release-2026
//	    publicKey: |
//	      -----BEGIN PUBLIC KEY-----
//	      ...
//	    notBefore: 2026-01-01T00:00:00Z
//
// notBefore and notAfter are RFC 3339 times and optional (unbounded); unknown fields
// are errors.
type TrustFile struct {
	Keys []TrustFileKey `json:"keys"`
}

// TrustFileKey is one entry of a TrustFile.
type TrustFileKey struct {
	Name      string `json:"name"`
	PublicKey string `json:"publicKey"`
	NotBefore string `json:"notBefore,omitempty"`
	NotAfter  string `json:"notAfter,omitempty"`
}

// LoadTrustFile reads a trust file (see TrustFile) and returns its keys with their
// validity windows. Public key paths are resolved relative to the trust file's
// directory. Any error in any entry fails the whole file: a trust list that is half
// read is a configuration error, not a smaller trust list.
func LoadTrustFile(path string) ([]TrustedKey, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("trust file: %w", err)
	}
	keys, err := ParseTrustFile(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	return keys, nil
}

// ParseTrustFile parses a trust file's content; relative public key paths are resolved
// against dir.
func ParseTrustFile(data []byte, dir string) ([]TrustedKey, error) {
	var tf TrustFile
	if err := yaml.UnmarshalStrict(data, &tf); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(tf.Keys) == 0 {
		return nil, ErrNoKeys
	}
	names := map[string]bool{}
	keys := make([]TrustedKey, 0, len(tf.Keys))
	for i, e := range tf.Keys {
		k, err := e.load(dir)
		if err != nil {
			if e.Name != "" {
				return nil, fmt.Errorf("key %q: %w", e.Name, err)
			}
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if names[k.Name] {
			return nil, fmt.Errorf("key %q: name used twice", k.Name)
		}
		names[k.Name] = true
		keys = append(keys, k)
	}
	return keys, nil
}

func (e TrustFileKey) load(dir string) (TrustedKey, error) {
	if strings.TrimSpace(e.Name) == "" {
		return TrustedKey{}, errors.New("no name")
	}
	var pemBytes []byte
	switch pk := strings.TrimSpace(e.PublicKey); {
	case pk == "":
		return TrustedKey{}, errors.New("no publicKey: give a PEM file path or inline PEM")
	case strings.HasPrefix(pk, "-----BEGIN"):
		pemBytes = []byte(pk)
	default:
		if !filepath.IsAbs(pk) {
			pk = filepath.Join(dir, pk)
		}
		data, err := readBounded(pk)
		if err != nil {
			return TrustedKey{}, fmt.Errorf("publicKey: %w", err)
		}
		pemBytes = data
	}
	k, err := ParseTrustedKeyPEM(e.Name, pemBytes)
	if err != nil {
		return TrustedKey{}, err
	}
	if k.NotBefore, err = parseTime("notBefore", e.NotBefore); err != nil {
		return TrustedKey{}, err
	}
	if k.NotAfter, err = parseTime("notAfter", e.NotAfter); err != nil {
		return TrustedKey{}, err
	}
	if !k.NotBefore.IsZero() && !k.NotAfter.IsZero() && !k.NotAfter.After(k.NotBefore) {
		return TrustedKey{}, fmt.Errorf("notAfter %s is not after notBefore %s", e.NotAfter, e.NotBefore)
	}
	return k, nil
}

func parseTime(field, s string) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 time: %w", field, s, err)
	}
	return t, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTrustFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxTrustFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxTrustFile)
	}
	return data, nil
}

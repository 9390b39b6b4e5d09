package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/verify"
)

// LoadTrustedKeys reads the trusted keys in a comma-separated list of files: PEM public
// keys, each named after its file without directory or extension and trusted without a
// window, and trust files (a name ending in .yaml or .yml, see verify.LoadTrustFile),
// which name their keys and give each a validity window. An empty list is an error: a
// service with no trusted keys would trust nothing, or worse, be configured wrong.
func LoadTrustedKeys(files string) ([]verify.TrustedKey, error) {
	paths := splitList(files)
	if len(paths) == 0 {
		return nil, errors.New("no trusted key files")
	}
	keys := make([]verify.TrustedKey, 0, len(paths))
	for _, f := range paths {
		switch strings.ToLower(filepath.Ext(f)) {
		case ".yaml", ".yml":
			tf, err := verify.LoadTrustFile(f)
			if err != nil {
				return nil, err
			}
			keys = append(keys, tf...)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted key: %w", err)
		}
		k, err := verify.ParseTrustedKeyPEM(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Registry returns the registry client a service shares: plain HTTP to the hosts in
// c.InsecureRegistries, credentials from the Docker config and its credential helpers,
// and userAgent (when not empty) in front of go-containerregistry's own.
func (c Common) Registry(userAgent string) (*oci.Client, error) {
	insecure, err := oci.ParseHostList(c.InsecureRegistries)
	if err != nil {
		return nil, err
	}
	return oci.NewClient(oci.ClientOptions{
		Keychain:  authn.DefaultKeychain,
		Transport: oci.InsecureTransport(insecure, nil),
		UserAgent: userAgent,
	})
}

// RemoteOptions returns the go-containerregistry options of c.Registry(userAgent).
func (c Common) RemoteOptions(userAgent string) ([]remote.Option, error) {
	r, err := c.Registry(userAgent)
	if err != nil {
		return nil, err
	}
	return r.Options(), nil
}

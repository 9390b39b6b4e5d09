package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// CertFileKind heads a client-certificate file (apiVersion TokenFileAPIVersion).
const CertFileKind = "ClientCertificates"

// CertFile maps client certificate identities to roles and scopes:
//
//	apiVersion: custody.dev/v1
//	kind: ClientCertificates
//	identities:
//	  - uri: spiffe://example.org/ci/deployer
//	    roles: [pipeline]
//	  - commonName: audit-bot
//	    roles: [auditor]
//	    scopes: [registry.example/team-a]
type CertFile struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Identities []CertIdentity `json:"identities"`
}

// ParseCertFile reads a client-certificate file strictly (one YAML document, no unknown
// fields, the size bounded like a token file) and returns its mapper.
func ParseCertFile(data []byte) (*CertMapper, error) {
	if len(data) > MaxTokenFileSize {
		return nil, fmt.Errorf("client certificate file larger than %d bytes", MaxTokenFileSize)
	}
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	var first, next any
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty client certificate file: write apiVersion custody.dev/v1, kind ClientCertificates and identities")
		}
		return nil, fmt.Errorf("decode client certificate file: %w", err)
	}
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document in the client certificate file")
	}
	var f CertFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("decode client certificate file: %w", err)
	}
	if f.APIVersion != TokenFileAPIVersion || f.Kind != CertFileKind {
		return nil, fmt.Errorf("client certificate file: apiVersion %q kind %q: want %s %s", bounded(f.APIVersion), bounded(f.Kind), TokenFileAPIVersion, CertFileKind)
	}
	return NewCertMapper(f.Identities...)
}

// LoadCertFile reads and parses the client-certificate file at path.
func LoadCertFile(path string) (*CertMapper, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client certificate file: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxTokenFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("client certificate file %s: %w", path, err)
	}
	m, err := ParseCertFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

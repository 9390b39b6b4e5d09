package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/custody-dev/custody/pkg/httpsec"
)

// ServerTLSConfig returns httpsec.TLSConfig with client certificates: when clientCAs is
// not nil, a client may present a certificate, which the handshake verifies against
// clientCAs (tls.VerifyClientCertIfGiven: a certificate from another CA fails the
// handshake; no certificate is fine, and other credentials then apply). Add the
// server's own Certificates before use.
func ServerTLSConfig(clientCAs *x509.CertPool) *tls.Config {
	c := httpsec.TLSConfig()
	if clientCAs != nil {
		c.ClientCAs = clientCAs
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c
}

// CertIdentity maps one client certificate identity to roles and scopes. Exactly one of
// URI (a URI SAN such as a SPIFFE id), DNS (a DNS SAN) and CommonName (the subject CN)
// is set; it is compared exactly.
type CertIdentity struct {
	URI        string   `json:"uri,omitempty"`
	DNS        string   `json:"dns,omitempty"`
	CommonName string   `json:"commonName,omitempty"`
	Roles      []Role   `json:"roles"`
	Scopes     []string `json:"scopes,omitempty"`
}

func (c CertIdentity) key() (string, error) {
	set := 0
	var k string
	for _, kv := range [][2]string{{"uri", c.URI}, {"dns", c.DNS}, {"cn", c.CommonName}} {
		if kv[1] != "" {
			set++
			k = kv[0] + ":" + kv[1]
		}
	}
	if set != 1 {
		return "", errors.New("set exactly one of uri, dns and commonName")
	}
	return k, nil
}

// CertMapper turns a verified client certificate into a principal.
type CertMapper struct {
	byKey map[string]certEntry
}

type certEntry struct {
	roles  []Role
	scopes []string
}

// NewCertMapper validates identities (one identity each, unique, known roles, sane
// scopes, as for static tokens) and returns a mapper.
func NewCertMapper(identities ...CertIdentity) (*CertMapper, error) {
	if len(identities) == 0 {
		return nil, errors.New("client certificates: no identities mapped")
	}
	m := &CertMapper{byKey: map[string]certEntry{}}
	for i, id := range identities {
		k, err := id.key()
		if err != nil {
			return nil, fmt.Errorf("client certificate identity %d: %w", i+1, err)
		}
		scopes, err := validateGrant(id.Roles, id.Scopes)
		if err != nil {
			return nil, fmt.Errorf("client certificate identity %d (%s): %w", i+1, k, err)
		}
		if _, dup := m.byKey[k]; dup {
			return nil, fmt.Errorf("client certificate identity %d (%s): mapped twice", i+1, k)
		}
		m.byKey[k] = certEntry{roles: slices.Clone(id.Roles), scopes: scopes}
	}
	return m, nil
}

// Authenticate returns the principal of the connection's verified client certificate:
// the leaf of its first verified chain, matched by URI SANs, then DNS SANs, then the
// subject CN. An unverified certificate (no verified chain), one whose identities match
// no entry, or one matching more than one entry is refused: mapping is never guessed.
func (m *CertMapper) Authenticate(state *tls.ConnectionState) (Principal, error) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return Principal{}, fmt.Errorf("%w: no verified client certificate", ErrUnauthenticated)
	}
	leaf := state.VerifiedChains[0][0]
	var keys []string
	for _, u := range leaf.URIs {
		keys = append(keys, "uri:"+u.String())
	}
	for _, d := range leaf.DNSNames {
		keys = append(keys, "dns:"+d)
	}
	if leaf.Subject.CommonName != "" {
		keys = append(keys, "cn:"+leaf.Subject.CommonName)
	}
	var matched []string
	for _, k := range keys {
		if _, ok := m.byKey[k]; ok && !slices.Contains(matched, k) {
			matched = append(matched, k)
		}
	}
	switch len(matched) {
	case 0:
		return Principal{}, fmt.Errorf("%w: client certificate %q is not mapped to a Custody identity", ErrUnauthenticated, bounded(leaf.Subject.String()))
	case 1:
	default:
		return Principal{}, fmt.Errorf("%w: client certificate matches several identities %v; map exactly one", ErrUnauthenticated, matched)
	}
	e := m.byKey[matched[0]]
	return Principal{
		ID:      "mtls:" + matched[0],
		Name:    bounded(matched[0][strings.IndexByte(matched[0], ':')+1:]),
		Method:  MethodMTLS,
		Roles:   slices.Clone(e.roles),
		Scopes:  slices.Clone(e.scopes),
		Expires: leaf.NotAfter,
	}, nil
}

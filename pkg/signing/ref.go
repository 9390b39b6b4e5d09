package signing

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/aws"
	"github.com/sigstore/sigstore/pkg/signature/kms/azure"
	"github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// KMS reference schemes LoadSigner accepts, as cosign spells them.
const (
	SchemeAWS        = "awskms://"
	SchemeGCP        = "gcpkms://"
	SchemeAzure      = "azurekms://"
	SchemeHashiVault = "hashivault://"
)

// ErrUnsupportedRef is returned for a key reference whose scheme this build cannot use.
var ErrUnsupportedRef = errors.New("unsupported key reference")

// LoadSigner returns the Signer a key reference names: a KMS URI (awskms://,
// gcpkms://, azurekms://, hashivault://; see the schemes' constants) or else the path of a
// key file (see ParsePrivateKeyPEM). password is called only for an encrypted key file,
// and may be nil for an empty password.
//
// Each KMS provider is wired here explicitly and reads its credentials the way cosign
// does: AWS from the SDK's default chain, GCP from Application Default Credentials,
// Azure from AZURE_* variables or the default Azure credential, Vault from VAULT_ADDR
// and VAULT_TOKEN (TRANSIT_SECRET_ENGINE_PATH, default "transit"). A KMS key must be
// ECDSA P-256; other key types are refused with ErrUnsupportedKey.
func LoadSigner(ctx context.Context, ref string, password func() ([]byte, error)) (*Signer, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, errors.New("signing key: empty key reference")
	}
	scheme, _, isURI := strings.Cut(ref, "://")
	if !isURI {
		return loadSignerFile(ref, password)
	}
	var sv signature.SignerVerifier
	var err error
	switch scheme + "://" {
	case SchemeAWS:
		sv, err = aws.LoadSignerVerifier(ctx, ref)
	case SchemeGCP:
		sv, err = gcp.LoadSignerVerifier(ctx, ref)
	case SchemeAzure:
		sv, err = azure.LoadSignerVerifier(ctx, ref)
	case SchemeHashiVault:
		sv, err = hashivault.LoadSignerVerifier(ref, crypto.SHA256, options.WithContext(ctx))
	default:
		return nil, fmt.Errorf("signing key %s: scheme %q: %w (use a key file path, %s, %s, %s or %s)",
			quoteRef(ref), scheme, ErrUnsupportedRef, SchemeAWS, SchemeGCP, SchemeAzure, SchemeHashiVault)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", quoteRef(ref), err)
	}
	s, err := FromSignerVerifier(ctx, sv)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", quoteRef(ref), err)
	}
	return s, nil
}

// quoteRef bounds a reference quoted in an error: it names a key, not a secret, but it
// comes from configuration and may be long.
func quoteRef(ref string) string {
	const max = 200
	if len(ref) > max {
		return ref[:max] + "..."
	}
	return ref
}

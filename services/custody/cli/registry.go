package cli

import (
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/oci"
)

// registryFlags adds --insecure-registry to fs and returns, for after parsing, the
// registry client options: credentials from the docker config / keychain, plain HTTP for
// the hosts named (and loopback), custody's user agent.
func registryFlags(fs *cmdFlags) (func() []remote.Option, error) {
	insecure, err := oci.ParseHostList(os.Getenv("CUSTODY_INSECURE_REGISTRIES"))
	if err != nil {
		return nil, usageErr("CUSTODY_INSECURE_REGISTRIES: %v", err)
	}
	fs.Func("insecure-registry", "reach registry `HOST[:PORT]` over plain HTTP (repeatable; env CUSTODY_INSECURE_REGISTRIES; loopback always is)",
		func(s string) error {
			hosts, err := oci.ParseHostList(s)
			insecure = append(insecure, hosts...)
			return err
		})
	return func() []remote.Option {
		return []remote.Option{
			remote.WithTransport(oci.InsecureTransport(insecure, nil)),
			remote.WithAuthFromKeychain(authn.DefaultKeychain),
			remote.WithUserAgent("custody/" + version),
		}
	}, nil
}

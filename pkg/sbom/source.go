package sbom

import (
	"fmt"
	"strings"

	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/custody-dev/custody/pkg/imagefs"
)

// imageSource is a syft source.Source for an image read by imagefs. It describes itself
// with source.ImageMetadata, as syft's stereoscope source does, so syft selects the same
// image cataloguers as `syft <image>`.
type imageSource struct {
	id       artifact.ID
	fs       *imagefs.FS
	res      *resolver
	metadata source.ImageMetadata
}

var _ source.Source = (*imageSource)(nil)

func newImageSource(img v1.Image, fsys *imagefs.FS, reference string) (*imageSource, error) {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w: %w", ErrFetch, err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w: %w", ErrFetch, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w: %w", ErrFetch, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, fmt.Errorf("read media type: %w: %w", ErrFetch, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("config digest: %w: %w", ErrFetch, err)
	}
	md := source.ImageMetadata{
		UserInput:      reference,
		ID:             id.String(),
		ManifestDigest: digest.FromBytes(rawManifest).String(),
		MediaType:      string(mt),
		Tags:           []string{},
		RawManifest:    rawManifest,
		RawConfig:      rawConfig,
	}
	if cfg != nil {
		md.Architecture, md.Variant, md.OS = cfg.Architecture, cfg.Variant, cfg.OS
		md.Labels = cfg.Config.Labels
	}
	for _, l := range fsys.Layers() {
		md.Layers = append(md.Layers, source.LayerMetadata{MediaType: l.MediaType, Digest: l.DiffID, Size: l.ContentSize})
		md.Size += l.ContentSize
	}
	// As syft derives an image source's ID: the digest of the raw manifest.
	return &imageSource{
		id:       artifact.ID(strings.TrimPrefix(digest.FromBytes(rawManifest).String(), "sha256:")),
		fs:       fsys,
		res:      newResolver(fsys),
		metadata: md,
	}, nil
}

func (s *imageSource) ID() artifact.ID { return s.id }

func (s *imageSource) FileResolver(scope source.Scope) (file.Resolver, error) {
	switch scope {
	case source.SquashedScope, source.UnknownScope:
		return s.res, nil
	default:
		return nil, fmt.Errorf("scope %q is not supported: only the squashed view is indexed", scope)
	}
}

// Describe names the image as syft's stereoscope source does: by the reference the
// caller gave (its repository, and its tag or digest), else by the manifest digest.
func (s *imageSource) Describe() source.Description {
	var name, version string
	if ref, err := reference.Parse(s.metadata.UserInput); err == nil {
		if r, ok := ref.(reference.Named); ok {
			name = r.Name()
		}
		if r, ok := ref.(reference.Tagged); ok {
			version = r.Tag()
		}
		if r, ok := ref.(reference.Digested); ok && (version == "" || version == "latest") {
			version = r.Digest().String()
		}
	}
	if name == "" {
		name = s.metadata.UserInput
	}
	if version == "" || version == "latest" {
		version = s.metadata.ManifestDigest
	}
	return source.Description{ID: string(s.id), Name: name, Version: version, Metadata: s.metadata}
}

func (s *imageSource) Close() error { return nil }

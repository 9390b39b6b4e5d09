package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media type and annotations of the attestation layers cosign reads and writes.
const (
	// MediaTypeDSSE is the media type of a layer holding one DSSE envelope (JSON).
	MediaTypeDSSE types.MediaType = "application/vnd.dsse.envelope.v1+json"
	// AnnotationSignature must be present on every attestation layer; cosign keeps the
	// signature inside the envelope and leaves the value empty.
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// AnnotationPredicateType names the statement's predicate type.
	AnnotationPredicateType = "predicateType"
)

// Bounds on what Attach writes and ReadAttachments reads from a registry.
const (
	// MaxEnvelopeSize bounds one attestation layer (a DSSE envelope): 32 MiB.
	MaxEnvelopeSize = 32 << 20
	// MaxAttachments bounds the number of layers in one .att manifest.
	MaxAttachments = 512
	// maxManifestSize bounds the .att manifest and maxConfigSize its config blob.
	maxManifestSize = 4 << 20
	maxConfigSize   = 1 << 20
	maxPredicateLen = 1024
)

var (
	// ErrSubjectNotFound: the image to attach to is not in its repository.
	ErrSubjectNotFound = errors.New("image not found in registry")
	// ErrInvalidAttachment: an attachment is empty, too large or not JSON.
	ErrInvalidAttachment = errors.New("invalid attachment")
	// ErrUnexpectedManifest: the .att tag names something other than an image manifest,
	// or one that is too large; Attach does not overwrite it.
	ErrUnexpectedManifest = errors.New("unexpected attachment manifest")
)

// Attachment is one signed statement to attach to an image.
type Attachment struct {
	// Envelope is the DSSE envelope JSON, stored byte for byte as one layer.
	Envelope []byte
	// PredicateType is the statement's predicate type, recorded in the layer's
	// predicateType annotation.
	PredicateType string
}

// StoredAttachment is an attachment as read back from a registry.
type StoredAttachment struct {
	Attachment
	// Digest is the layer's digest, sha256:<hex> of Envelope.
	Digest string
	// Annotations are the layer descriptor's annotations.
	Annotations map[string]string
}

// AttachmentTag is the tag under which cosign keeps the attestations of the manifest
// with the given digest (sha256:<hex>): "sha256-<hex>.att".
func AttachmentTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".att"
}

// Attach adds atts to the attestations of subject in the layout cosign reads: an OCI
// image manifest tagged sha256-<hex>.att in subject's repository, one layer per DSSE
// envelope (media type MediaTypeDSSE, annotations AnnotationSignature and
// AnnotationPredicateType). It returns the attachment manifest pinned by digest.
//
// Attach appends: an existing .att manifest is read first and kept whole, and an
// envelope whose digest is already a layer there is not added again, so attaching the
// same envelope twice is a no-op. Attach checks that subject exists first.
//
// Updating the tag is a read-modify-write that registries cannot make atomic: two
// concurrent Attach calls (or cosign) for the same image may each read the old manifest
// and the later write would drop the other's layer. Callers serialise attaches per
// image; the attestor does so per digest within a process.
//
// opts configure the registry client (for example remote.WithAuthFromKeychain); any
// remote.WithContext among them is overridden by ctx.
func Attach(ctx context.Context, subject name.Digest, atts []Attachment, opts ...remote.Option) (name.Digest, error) {
	return attach(ctx, subject, atts, opts, func(target subjectTarget) (attachWriter, error) {
		return remoteWriter{pusher: target.pusher, repo: subject.Context()}, nil
	})
}

// attach is Attach, writing through the attachWriter newWriter makes once subject is
// found; opts make the client that reads.
func attach(ctx context.Context, subject name.Digest, atts []Attachment, opts []remote.Option,
	newWriter func(subjectTarget) (attachWriter, error)) (name.Digest, error) {
	hexDigest, err := pinnedHex(subject)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %q: %w", subject.String(), err)
	}
	if len(atts) == 0 {
		return name.Digest{}, fmt.Errorf("attach to %s: %w: no attachments", subject, ErrInvalidAttachment)
	}
	for i, a := range atts {
		if err := a.validate(); err != nil {
			return name.Digest{}, fmt.Errorf("attach to %s: attachment %d: %w", subject, i, err)
		}
	}
	target, err := openSubject(ctx, subject, opts)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: %w", subject, err)
	}
	w, err := newWriter(target)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: %w", subject, err)
	}

	tag := subject.Context().Tag("sha256-" + hexDigest + ".att")
	base, existing, current, err := readAttachmentImage(ctx, target.puller, tag)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: %w", subject, err)
	}

	var adds []mutate.Addendum
	for _, a := range atts {
		layer := static.NewLayer(a.Envelope, MediaTypeDSSE)
		h, err := layer.Digest()
		if err != nil {
			return name.Digest{}, fmt.Errorf("attach to %s: layer digest: %w", subject, err)
		}
		if existing[h.String()] {
			continue
		}
		existing[h.String()] = true
		adds = append(adds, mutate.Addendum{
			Layer: layer,
			Annotations: map[string]string{
				AnnotationSignature:     "",
				AnnotationPredicateType: a.PredicateType,
			},
		})
	}
	if len(adds) == 0 && current != "" {
		return subject.Context().Digest(current), nil
	}
	if len(existing) > MaxAttachments {
		return name.Digest{}, fmt.Errorf("attach to %s: %w: %s would hold %d layers, more than %d",
			subject, ErrUnexpectedManifest, tag, len(existing), MaxAttachments)
	}
	if current != "" {
		// The config of a manifest this writer wrote need not be fetched back: the
		// manifest names it by digest, and the writer kept it under that digest.
		// (ConfigName would fetch the blob to hash it.)
		if m, err := base.Manifest(); err == nil {
			if raw, ok := w.config(m.Config.Digest); ok {
				base = knownConfig{Image: base, raw: raw}
			}
		}
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: build manifest: %w", subject, err)
	}
	h, err := img.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: manifest digest: %w", subject, err)
	}
	// Upload only what is new (the envelopes and the grown config), then the manifest:
	// pushing the whole image would ask the registry about every layer already there,
	// a cost that grows with each attachment.
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: config: %w", subject, err)
	}
	for _, l := range append([]v1.Layer{cfg}, addedLayers(adds)...) {
		if err := w.upload(ctx, l); err != nil {
			return name.Digest{}, fmt.Errorf("attach to %s: upload to %s: %w", subject, subject.Context(), err)
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: manifest: %w", subject, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: manifest: %w", subject, err)
	}
	if err := w.putManifest(ctx, tag, raw, mt); err != nil {
		return name.Digest{}, fmt.Errorf("attach to %s: write %s: %w", subject, tag, err)
	}
	if rawCfg, err := img.RawConfigFile(); err == nil {
		if d, err := img.ConfigName(); err == nil {
			w.keepConfig(d, rawCfg)
		}
	}
	return subject.Context().Digest(h.String()), nil
}

// knownConfig is an .att image whose config blob is already known (checked against
// its digest when it was kept).
type knownConfig struct {
	v1.Image
	raw []byte
}

func (i knownConfig) RawConfigFile() ([]byte, error) { return i.raw, nil }

func (i knownConfig) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.raw))
}

func addedLayers(adds []mutate.Addendum) []v1.Layer {
	ls := make([]v1.Layer, len(adds))
	for i, a := range adds {
		ls[i] = a.Layer
	}
	return ls
}

// rawManifest is a manifest to write as it is, its blobs already in the registry.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// subjectTarget holds the registry clients for writing about a subject, and the
// subject's descriptor as the registry answered it.
type subjectTarget struct {
	puller *remote.Puller
	pusher *remote.Pusher
	head   *v1.Descriptor
}

// openSubject makes the registry clients for writing about subject (any
// remote.WithContext in opts is overridden by ctx) and checks that the registry holds
// subject under its digest: ErrSubjectNotFound where it does not, ErrDigestMismatch where
// it answers another digest. Callers check that subject is pinned first and add their
// own context to the error.
func openSubject(ctx context.Context, subject name.Digest, opts []remote.Option) (subjectTarget, error) {
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return subjectTarget{}, fmt.Errorf("registry client: %w", err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return subjectTarget{}, fmt.Errorf("registry client: %w", err)
	}
	head, err := puller.Head(ctx, subject)
	if isNotFound(err) {
		return subjectTarget{}, ErrSubjectNotFound
	}
	if err != nil {
		return subjectTarget{}, fmt.Errorf("look up image: %w", err)
	}
	if head.Digest.String() != subject.DigestStr() {
		return subjectTarget{}, fmt.Errorf("registry answered %s: %w", head.Digest, ErrDigestMismatch)
	}
	return subjectTarget{puller: puller, pusher: pusher, head: head}, nil
}

func (a Attachment) validate() error {
	switch {
	case len(a.Envelope) == 0:
		return fmt.Errorf("%w: empty envelope", ErrInvalidAttachment)
	case len(a.Envelope) > MaxEnvelopeSize:
		return fmt.Errorf("%w: envelope of %d bytes exceeds %d", ErrInvalidAttachment, len(a.Envelope), MaxEnvelopeSize)
	case !json.Valid(a.Envelope):
		return fmt.Errorf("%w: envelope is not JSON", ErrInvalidAttachment)
	case a.PredicateType == "" || len(a.PredicateType) > maxPredicateLen:
		return fmt.Errorf("%w: predicate type must be 1-%d characters", ErrInvalidAttachment, maxPredicateLen)
	}
	return nil
}

// readAttachmentImage returns the image to append to (the existing .att image, or an
// empty one laid out as cosign lays it out), the digests of its layers, and its manifest
// digest ("" when the tag does not exist).
func readAttachmentImage(ctx context.Context, puller *remote.Puller, tag name.Tag) (v1.Image, map[string]bool, string, error) {
	existing := map[string]bool{}
	desc, err := puller.Get(ctx, tag)
	if isNotFound(err) {
		base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
		return base, existing, "", nil
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("read %s: %w", tag, err)
	}
	m, err := checkAttachmentManifest(tag, desc)
	if err != nil {
		return nil, nil, "", err
	}
	for _, l := range m.Layers {
		existing[l.Digest.String()] = true
	}
	img, err := desc.Image()
	if err != nil {
		return nil, nil, "", fmt.Errorf("read %s: %w", tag, err)
	}
	return img, existing, desc.Digest.String(), nil
}

// checkAttachmentManifest parses and bounds the manifest a .att tag names.
func checkAttachmentManifest(tag name.Tag, desc *remote.Descriptor) (*v1.Manifest, error) {
	if desc.MediaType != types.OCIManifestSchema1 && desc.MediaType != types.DockerManifestSchema2 {
		return nil, fmt.Errorf("%w: %s is a %s, not an image manifest", ErrUnexpectedManifest, tag, desc.MediaType)
	}
	if len(desc.Manifest) > maxManifestSize {
		return nil, fmt.Errorf("%w: %s manifest of %d bytes exceeds %d", ErrUnexpectedManifest, tag, len(desc.Manifest), maxManifestSize)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnexpectedManifest, tag, err)
	}
	if len(m.Layers) > MaxAttachments {
		return nil, fmt.Errorf("%w: %s has %d layers, more than %d", ErrUnexpectedManifest, tag, len(m.Layers), MaxAttachments)
	}
	if m.Config.Size > maxConfigSize {
		return nil, fmt.Errorf("%w: %s config of %d bytes exceeds %d", ErrUnexpectedManifest, tag, m.Config.Size, maxConfigSize)
	}
	return m, nil
}

// ReadAttachments returns the DSSE envelopes attached to subject under its .att tag, in
// manifest order, each checked against its layer digest and bounded by
// MaxEnvelopeSize. Layers of other media types are skipped. No .att tag is not an error:
// the result is empty. The envelopes are not verified; use package verify.
func ReadAttachments(ctx context.Context, subject name.Digest, opts ...remote.Option) ([]StoredAttachment, error) {
	hexDigest, err := pinnedHex(subject)
	if err != nil {
		return nil, fmt.Errorf("read attachments of %q: %w", subject.String(), err)
	}
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("read attachments of %s: registry client: %w", subject, err)
	}
	tag := subject.Context().Tag("sha256-" + hexDigest + ".att")
	desc, err := puller.Get(ctx, tag)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read attachments of %s: %w", subject, err)
	}
	m, err := checkAttachmentManifest(tag, desc)
	if err != nil {
		return nil, fmt.Errorf("read attachments of %s: %w", subject, err)
	}
	var out []StoredAttachment
	for _, l := range m.Layers {
		if l.MediaType != MediaTypeDSSE {
			continue
		}
		env, err := readEnvelope(ctx, puller, subject.Context(), l)
		if err != nil {
			return nil, fmt.Errorf("read attachments of %s: %w", subject, err)
		}
		out = append(out, StoredAttachment{
			Attachment:  Attachment{Envelope: env, PredicateType: l.Annotations[AnnotationPredicateType]},
			Digest:      l.Digest.String(),
			Annotations: l.Annotations,
		})
	}
	return out, nil
}

func readEnvelope(ctx context.Context, puller *remote.Puller, repo name.Repository, l v1.Descriptor) ([]byte, error) {
	if l.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("layer %s: only sha256 digests are accepted", l.Digest)
	}
	if l.Size < 0 || l.Size > MaxEnvelopeSize {
		return nil, fmt.Errorf("layer %s: size %d exceeds %d", l.Digest, l.Size, MaxEnvelopeSize)
	}
	layer, err := puller.Layer(ctx, repo.Digest(l.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxEnvelopeSize+1))
	if err != nil {
		return nil, fmt.Errorf("layer %s: read: %w", l.Digest, err)
	}
	if len(data) > MaxEnvelopeSize {
		return nil, fmt.Errorf("layer %s: larger than %d bytes", l.Digest, MaxEnvelopeSize)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != l.Digest.Hex {
		return nil, fmt.Errorf("layer %s: content does not match its digest: %w", l.Digest, ErrDigestMismatch)
	}
	return data, nil
}

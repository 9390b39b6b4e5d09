package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// Media types and annotations of the Sigstore bundle referrers cosign v3 reads and writes:
// an OCI image manifest whose subject is the image, whose artifactType is MediaTypeBundle,
// whose config is the empty descriptor, and whose single layer is the bundle JSON.
const (
	// MediaTypeBundle is the media type of a Sigstore bundle v0.3 (JSON), used both as the
	// referrer's artifactType and as its layer's media type.
	MediaTypeBundle types.MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// AnnotationBundleContent says what the bundle carries; Custody's carry a DSSE envelope.
	AnnotationBundleContent = "dev.sigstore.bundle.content"
	// AnnotationBundlePredicateType names the predicate type of the statement in the bundle.
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"

	bundleContentDSSE = "dsse-envelope"
	// mediaTypeBundlePrefix matches every bundle version (v0.1 to v0.3) when reading.
	mediaTypeBundlePrefix = "application/vnd.dev.sigstore.bundle"
	// emptyConfig is the OCI empty descriptor's content ("{}").
	emptyConfig = "{}"
)

// Bounds on what AttachBundle writes and ReadBundleReferrers reads.
const (
	// MaxBundleSize bounds one bundle layer: an envelope of MaxEnvelopeSize plus room for
	// the bundle's own fields.
	MaxBundleSize = MaxEnvelopeSize + 1<<20
	// MaxBundleReferrers bounds the referrers of one image that are (or may be) bundles;
	// ReadBundleReferrers refuses an image with more.
	MaxBundleReferrers = 256
	maxKeyHintLen      = 256
)

var (
	// ErrInvalidBundle: a bundle referrer's content is not a Sigstore bundle holding a DSSE
	// envelope, is too large, or does not match its digest.
	ErrInvalidBundle = errors.New("invalid sigstore bundle")
	// ErrTooManyReferrers: an image has more than MaxBundleReferrers candidate bundles.
	ErrTooManyReferrers = errors.New("too many bundle referrers")
)

// BundleAttachment is one signed statement to attach to an image as a Sigstore bundle.
type BundleAttachment struct {
	// Attachment holds the DSSE envelope (JSON) and the statement's predicate type.
	Attachment
	// KeyHint names the public key that verifies the envelope; it is written as the
	// bundle's verificationMaterial.publicKey.hint. Custody uses its key id.
	KeyHint string
}

// StoredBundle is a bundle referrer as read back from a registry.
type StoredBundle struct {
	// Attachment holds the bundle's DSSE envelope, re-encoded as DSSE JSON (so that an
	// envelope Custody signed reads back byte for byte), and the predicate type recorded
	// in the referrer's AnnotationBundlePredicateType annotation.
	Attachment
	// KeyHint is the bundle's verificationMaterial.publicKey.hint ("" when the bundle is
	// verified by a certificate instead).
	KeyHint string
	// Referrer is the referrer manifest, pinned by digest.
	Referrer name.Digest
	// Digest is the bundle layer's digest.
	Digest string
	// Annotations are the referrer manifest's annotations.
	Annotations map[string]string
}

// SupportsReferrers reports whether the registry serving repo implements the OCI
// referrers API (GET /v2/<name>/referrers/<digest> answers an image index). It asks about
// a digest nothing refers to, with the registry client opts describe (a Puller reused
// through them included), and does not mistake the referrers tag schema for the API. A
// 404 (or any other refusal the distribution spec allows a registry without the API to
// give) is false without error; an error
// means the answer is unknown (network, authentication, server error), and callers
// should not remember it.
//
// Probe a repository that exists: some registries answer 404 for a repository they do
// not know, which reads as false. The answer does not change while a registry runs, so
// callers probe once per registry and repository and keep the answer.
func SupportsReferrers(ctx context.Context, repo name.Repository, opts ...remote.Option) (bool, error) {
	if repo.RepositoryStr() == "" {
		return false, fmt.Errorf("probe referrers API: %w: empty repository", ErrInvalidDestination)
	}
	// The zero digest is a valid digest that no manifest has, and that nothing refers to.
	probe := repo.Digest("sha256:" + strings.Repeat("0", 64))
	opts = append(opts[:len(opts):len(opts)], remote.WithReferrersTagFallback(false), remote.WithContext(ctx))
	idx, err := remote.Referrers(probe, opts...)
	if err == nil {
		// A Puller reused through opts keeps its own settings: with the tag fallback on,
		// a registry without the API sends it to the sha256-000… tag, which does not
		// exist, and it answers go-containerregistry's empty index.
		if idx == v1.ImageIndex(empty.Index) {
			return false, nil
		}
		if _, err := idx.IndexManifest(); err != nil {
			return false, fmt.Errorf("probe referrers API of %s: %w", repo, err)
		}
		return true, nil
	}
	// With the tag fallback off, ggcr answers a 404, 400 or 406, or a 200 that is not an
	// image index, with an error of its own that is neither a registry error nor a
	// network one: that is the registry saying it has no referrers API.
	var terr *transport.Error
	switch {
	case ctx.Err() != nil:
		return false, fmt.Errorf("probe referrers API of %s: %w", repo, ctx.Err())
	case errors.As(err, &terr), isNetworkError(err):
		return false, fmt.Errorf("probe referrers API of %s: %w", repo, err)
	}
	return false, nil
}

// isNetworkError reports whether err is a failure to talk to the registry at all.
func isNetworkError(err error) bool {
	var uerr *url.Error
	var nerr net.Error
	return errors.As(err, &uerr) || errors.As(err, &nerr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// AttachBundle writes b as a Sigstore bundle v0.3 referrer of subject, in the layout cosign
// v3 writes and `cosign verify-attestation` reads: an OCI image manifest in subject's
// repository with subject set to the image, artifactType MediaTypeBundle, the empty
// config, one layer holding the bundle JSON, and the annotations AnnotationBundleContent
// and AnnotationBundlePredicateType. The bundle's verification material is the public key
// hint b.KeyHint; it has no transparency log entries or signed timestamps (Custody keeps
// its own log). It returns the referrer manifest pinned by digest.
//
// The manifest carries no timestamp, so attaching the same envelope again writes the
// same manifest under the same digest: the image gains no second referrer. On a
// registry without the referrers API, go-containerregistry records the referrer in the
// sha256-<hex> index tag instead (the referrers tag schema), which cosign also reads;
// callers that want the referrer only where the API exists ask SupportsReferrers first.
//
// opts configure the registry client; any remote.WithContext among them is overridden by ctx.
func AttachBundle(ctx context.Context, subject name.Digest, b BundleAttachment, opts ...remote.Option) (name.Digest, error) {
	if _, err := pinnedHex(subject); err != nil {
		return name.Digest{}, fmt.Errorf("attach bundle to %q: %w", subject.String(), err)
	}
	data, err := encodeBundle(b)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach bundle to %s: %w", subject, err)
	}
	target, err := openSubject(ctx, subject, opts)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach bundle to %s: %w", subject, err)
	}
	pusher, head := target.pusher, target.head

	repo := subject.Context()
	config := static.NewLayer([]byte(emptyConfig), types.OCIEmptyJSON)
	layer := static.NewLayer(data, MediaTypeBundle)
	for _, l := range []v1.Layer{config, layer} {
		if err := pusher.Upload(ctx, repo, l); err != nil {
			return name.Digest{}, fmt.Errorf("attach bundle to %s: upload blob: %w", subject, err)
		}
	}
	body, err := bundleManifest(head, config, layer, b.PredicateType)
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach bundle to %s: build manifest: %w", subject, err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return name.Digest{}, fmt.Errorf("attach bundle to %s: manifest digest: %w", subject, err)
	}
	ref := repo.Digest(h.String())
	if err := pusher.Put(ctx, ref, taggableManifest{body: body, mediaType: types.OCIManifestSchema1}); err != nil {
		return name.Digest{}, fmt.Errorf("attach bundle to %s: write referrer: %w", subject, err)
	}
	return ref, nil
}

// bundleManifest is the referrer manifest of one bundle layer about subject.
func bundleManifest(subject *v1.Descriptor, config, layer v1.Layer, predicateType string) ([]byte, error) {
	desc := func(l v1.Layer) (v1.Descriptor, error) {
		d, err := l.Digest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		n, err := l.Size()
		if err != nil {
			return v1.Descriptor{}, err
		}
		mt, err := l.MediaType()
		if err != nil {
			return v1.Descriptor{}, err
		}
		return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, nil
	}
	cfg, err := desc(config)
	if err != nil {
		return nil, err
	}
	bl, err := desc(layer)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  string(MediaTypeBundle),
		Config:        cfg,
		Layers:        []v1.Descriptor{bl},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			AnnotationBundleContent:       bundleContentDSSE,
			AnnotationBundlePredicateType: predicateType,
		},
	}
	return json.Marshal(m)
}

// taggableManifest is a manifest to PUT as it is.
type taggableManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (m taggableManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m taggableManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// encodeBundle validates b and returns its Sigstore bundle v0.3 JSON. The encoding is
// deterministic (protojson's output, compacted), so the same b always yields the same bytes.
func encodeBundle(b BundleAttachment) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	var env dsse.Envelope
	dec := json.NewDecoder(bytes.NewReader(b.Envelope))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: envelope is not a DSSE envelope: %w", ErrInvalidAttachment, err)
	}
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope payload: %w", ErrInvalidAttachment, err)
	}
	if env.PayloadType == "" || len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: envelope needs a payloadType and at least one signature", ErrInvalidAttachment)
	}
	pe := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
	for i, s := range env.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil || len(sig) == 0 {
			return nil, fmt.Errorf("%w: envelope signature %d is not base64", ErrInvalidAttachment, i)
		}
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: sig, Keyid: s.KeyID})
	}
	pb := &protobundle.Bundle{
		MediaType: string(MediaTypeBundle),
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{
				PublicKey: &protocommon.PublicKeyIdentifier{Hint: b.KeyHint},
			},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe},
	}
	raw, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	// protojson varies its whitespace between builds on purpose; compacting removes it.
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	if out.Len() > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle of %d bytes exceeds %d", ErrInvalidAttachment, out.Len(), MaxBundleSize)
	}
	return out.Bytes(), nil
}

func (b BundleAttachment) validate() error {
	if err := b.Attachment.validate(); err != nil {
		return err
	}
	if b.KeyHint == "" || len(b.KeyHint) > maxKeyHintLen || strings.IndexFunc(b.KeyHint, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r)
	}) >= 0 {
		return fmt.Errorf("%w: key hint must be 1-%d printable characters without spaces", ErrInvalidAttachment, maxKeyHintLen)
	}
	return nil
}

// decodeBase64 accepts standard and URL-safe base64, as DSSE does.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(s)
	}
	return b, err
}

// parseBundle reads a Sigstore bundle (JSON) that carries a DSSE envelope and returns
// the envelope as DSSE JSON and the bundle's public key hint.
func parseBundle(data []byte) (envelope []byte, keyHint string, err error) {
	if len(data) == 0 {
		return nil, "", fmt.Errorf("%w: empty", ErrInvalidBundle)
	}
	if len(data) > MaxBundleSize {
		return nil, "", fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidBundle, len(data), MaxBundleSize)
	}
	var pb protobundle.Bundle
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &pb); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidBundle, err)
	}
	if !strings.HasPrefix(pb.GetMediaType(), mediaTypeBundlePrefix) {
		return nil, "", fmt.Errorf("%w: media type %q is not a Sigstore bundle's", ErrInvalidBundle, pb.GetMediaType())
	}
	if pb.GetVerificationMaterial() == nil {
		return nil, "", fmt.Errorf("%w: no verification material", ErrInvalidBundle)
	}
	pe := pb.GetDsseEnvelope()
	if pe == nil {
		return nil, "", fmt.Errorf("%w: no DSSE envelope", ErrInvalidBundle)
	}
	if pe.GetPayloadType() == "" || len(pe.GetSignatures()) == 0 {
		return nil, "", fmt.Errorf("%w: DSSE envelope needs a payloadType and at least one signature", ErrInvalidBundle)
	}
	env := dsse.Envelope{
		PayloadType: pe.GetPayloadType(),
		Payload:     base64.StdEncoding.EncodeToString(pe.GetPayload()),
	}
	for i, s := range pe.GetSignatures() {
		if len(s.GetSig()) == 0 {
			return nil, "", fmt.Errorf("%w: DSSE signature %d is empty", ErrInvalidBundle, i)
		}
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: s.GetKeyid(), Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidBundle, err)
	}
	return out, pb.GetVerificationMaterial().GetPublicKey().GetHint(), nil
}

// ReadBundleReferrers returns the DSSE envelopes in the Sigstore bundle referrers of
// subject, ordered by referrer digest. It lists referrers with the referrers API, or on a
// registry without it the sha256-<hex> index tag, and skips referrers that are not bundles
// (another artifactType, or a manifest whose artifactType is not a bundle's). Every
// manifest and bundle read is bounded and checked against its digest; a referrer that
// claims to be a bundle but is malformed, too large, about another image or not
// matching its digest is an error, as is an image with more than MaxBundleReferrers
// candidates. No referrers is not an error: the result is empty. The envelopes are not
// verified; use package verify.
func ReadBundleReferrers(ctx context.Context, subject name.Digest, opts ...remote.Option) ([]StoredBundle, error) {
	if _, err := pinnedHex(subject); err != nil {
		return nil, fmt.Errorf("read bundles of %q: %w", subject.String(), err)
	}
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("read bundles of %s: registry client: %w", subject, err)
	}
	refs, err := bundleReferrers(ctx, puller, subject, opts)
	if err != nil {
		return nil, fmt.Errorf("read bundles of %s: %w", subject, err)
	}
	var out []StoredBundle
	for _, r := range refs {
		data, err := readBlob(ctx, puller, subject.Context(), r.layer, MaxBundleSize)
		if err != nil {
			return nil, fmt.Errorf("read bundles of %s: referrer %s: %w", subject, r.ref.DigestStr(), err)
		}
		env, hint, err := parseBundle(data)
		if err != nil {
			return nil, fmt.Errorf("read bundles of %s: referrer %s: %w", subject, r.ref.DigestStr(), err)
		}
		out = append(out, StoredBundle{
			Attachment:  Attachment{Envelope: env, PredicateType: r.manifest.Annotations[AnnotationBundlePredicateType]},
			KeyHint:     hint,
			Referrer:    r.ref,
			Digest:      r.layer.Digest.String(),
			Annotations: r.manifest.Annotations,
		})
	}
	return out, nil
}

// bundleReferrer is a referrer manifest checked to be a bundle about the subject.
type bundleReferrer struct {
	ref      name.Digest
	desc     *remote.Descriptor
	manifest *v1.Manifest
	layer    v1.Descriptor
}

// bundleReferrers lists subject's referrers (falling back to the referrers tag schema),
// fetches those that are or may be bundles, and returns the bundles in digest order.
func bundleReferrers(ctx context.Context, puller *remote.Puller, subject name.Digest, opts []remote.Option) ([]bundleReferrer, error) {
	idx, err := remote.Referrers(subject, opts...)
	if err != nil {
		return nil, fmt.Errorf("list referrers: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: referrers index: %w", ErrUnexpectedManifest, err)
	}
	var candidates []v1.Descriptor
	seen := map[v1.Hash]bool{}
	for _, d := range im.Manifests {
		// Registries report the manifest's artifactType, or (as go-containerregistry's
		// does) its config media type, which is the empty type for a bundle.
		switch {
		case strings.HasPrefix(d.ArtifactType, mediaTypeBundlePrefix),
			d.ArtifactType == "", d.ArtifactType == string(types.OCIEmptyJSON):
		default:
			continue
		}
		if d.MediaType != types.OCIManifestSchema1 || seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		candidates = append(candidates, d)
	}
	if len(candidates) > MaxBundleReferrers {
		return nil, fmt.Errorf("%w: %d candidates, more than %d", ErrTooManyReferrers, len(candidates), MaxBundleReferrers)
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Digest.String() < candidates[j].Digest.String() })

	var out []bundleReferrer
	for _, c := range candidates {
		ref := subject.Context().Digest(c.Digest.String())
		r, ok, err := checkBundleReferrer(ctx, puller, ref, subject)
		if err != nil {
			return nil, fmt.Errorf("referrer %s: %w", c.Digest, err)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// checkBundleReferrer fetches the manifest ref names and reports whether it is a bundle
// referrer of subject. A manifest that is not a bundle is skipped (false, nil).
func checkBundleReferrer(ctx context.Context, puller *remote.Puller, ref, subject name.Digest) (bundleReferrer, bool, error) {
	if ref.DigestStr() == "" || !strings.HasPrefix(ref.DigestStr(), "sha256:") {
		return bundleReferrer{}, false, fmt.Errorf("%w: only sha256 digests are accepted", ErrUnexpectedManifest)
	}
	desc, err := puller.Get(ctx, ref)
	if err != nil {
		return bundleReferrer{}, false, fmt.Errorf("fetch: %w", err)
	}
	if len(desc.Manifest) > maxManifestSize {
		return bundleReferrer{}, false, fmt.Errorf("%w: manifest of %d bytes exceeds %d", ErrUnexpectedManifest, len(desc.Manifest), maxManifestSize)
	}
	sum := sha256.Sum256(desc.Manifest)
	if "sha256:"+hex.EncodeToString(sum[:]) != ref.DigestStr() {
		return bundleReferrer{}, false, fmt.Errorf("manifest does not match its digest: %w", ErrDigestMismatch)
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		return bundleReferrer{}, false, nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return bundleReferrer{}, false, fmt.Errorf("%w: %w", ErrUnexpectedManifest, err)
	}
	if !strings.HasPrefix(m.ArtifactType, mediaTypeBundlePrefix) {
		return bundleReferrer{}, false, nil
	}
	if m.Subject == nil || m.Subject.Digest.String() != subject.DigestStr() {
		return bundleReferrer{}, false, fmt.Errorf("%w: bundle referrer is not about %s", ErrUnexpectedManifest, subject.DigestStr())
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), mediaTypeBundlePrefix) {
		return bundleReferrer{}, false, fmt.Errorf("%w: a bundle referrer has exactly one bundle layer, found %d layers", ErrInvalidBundle, len(m.Layers))
	}
	return bundleReferrer{ref: ref, desc: desc, manifest: m, layer: m.Layers[0]}, true, nil
}

// readBlob reads the blob l describes from repo, bounded by limit and checked against
// its sha256 digest.
func readBlob(ctx context.Context, puller *remote.Puller, repo name.Repository, l v1.Descriptor, limit int64) ([]byte, error) {
	if l.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("%w: layer %s: only sha256 digests are accepted", ErrInvalidBundle, l.Digest)
	}
	if l.Size < 0 || l.Size > limit {
		return nil, fmt.Errorf("%w: layer %s: size %d exceeds %d", ErrInvalidBundle, l.Digest, l.Size, limit)
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
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil && !isNetworkError(err) {
		// go-containerregistry checks size and digest as it reads; a mismatch surfaces here.
		return nil, fmt.Errorf("%w: layer %s: %w: %w", ErrInvalidBundle, l.Digest, ErrDigestMismatch, err)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: read: %w", l.Digest, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: layer %s: larger than %d bytes", ErrInvalidBundle, l.Digest, limit)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != l.Digest.Hex {
		return nil, fmt.Errorf("%w: layer %s: content does not match its digest: %w", ErrInvalidBundle, l.Digest, ErrDigestMismatch)
	}
	return data, nil
}

// copyBundleReferrers copies the bundle referrers of src to dst, by digest, and returns
// how many it copied. It is Copy's step after the image itself is in dst, for a dst
// whose registry implements the referrers API (Copy asks SupportsReferrers once).
func copyBundleReferrers(ctx context.Context, puller *remote.Puller, pusher *remote.Pusher, src name.Digest, dst name.Repository, opts []remote.Option) (int, error) {
	refs, err := bundleReferrers(ctx, puller, src, opts)
	if err != nil {
		return 0, err
	}
	for _, r := range refs {
		to := dst.Digest(r.ref.DigestStr())
		if err := pusher.Push(ctx, to, r.desc); err != nil {
			return 0, fmt.Errorf("write %s: %w", to, err)
		}
	}
	return len(refs), nil
}

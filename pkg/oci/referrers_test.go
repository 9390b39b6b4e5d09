package oci_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

// testSigner is an in-memory P-256 signer.
func testSigner(t *testing.T) *signing.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signedBundle signs an in-toto statement about subject and returns it as a bundle to attach.
func signedBundle(t *testing.T, s *signing.Signer, subject name.Digest, predicateType string) oci.BundleAttachment {
	t.Helper()
	hexDigest := strings.TrimPrefix(subject.DigestStr(), "sha256:")
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`,
		subject.Context().Name(), hexDigest, predicateType)
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, []byte(stmt))
	if err != nil {
		t.Fatal(err)
	}
	return oci.BundleAttachment{Attachment: oci.Attachment{Envelope: env, PredicateType: predicateType}, KeyHint: s.KeyID()}
}

// referrersIndex is what the registry's referrers API lists for subject.
func referrersIndex(t *testing.T, subject name.Digest) *v1.IndexManifest {
	t.Helper()
	idx, err := remote.Referrers(subject, remote.WithReferrersTagFallback(false))
	if err != nil {
		t.Fatalf("referrers of %s: %v", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// hookedRegistry serves go-containerregistry's in-memory registry behind hook, which may
// answer a request itself (returning true) to play a misbehaving registry.
func hookedRegistry(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool, opts ...registry.Option) string {
	t.Helper()
	opts = append([]registry.Option{registry.Logger(log.New(io.Discard, "", 0))}, opts...)
	inner := registry.New(opts...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil && hook(w, r) {
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestSupportsReferrers(t *testing.T) {
	ctx := context.Background()
	isReferrers := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }
	cases := []struct {
		name    string
		host    func(t *testing.T) string
		opts    func(t *testing.T) []remote.Option
		want    bool
		wantErr bool
	}{
		{name: "referrers API", host: func(t *testing.T) string { return ocitest.New(t, registry.WithReferrersSupport(true)) }, want: true},
		{name: "no referrers API", host: func(t *testing.T) string { return ocitest.New(t) }},
		{
			// A reused Puller falls back to the tag schema; the probe must not.
			name: "no referrers API, reused puller",
			host: func(t *testing.T) string { return ocitest.New(t) },
			opts: func(t *testing.T) []remote.Option {
				p, err := remote.NewPuller()
				if err != nil {
					t.Fatal(err)
				}
				return []remote.Option{remote.Reuse(p)}
			},
		},
		{
			name: "200 that is not an index",
			host: func(t *testing.T) string {
				return hookedRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
					if !isReferrers(r) {
						return false
					}
					w.Header().Set("Content-Type", "text/html")
					_, _ = w.Write([]byte("<html>welcome</html>"))
					return true
				})
			},
		},
		{
			name: "server error",
			host: func(t *testing.T) string {
				return hookedRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
					if !isReferrers(r) {
						return false
					}
					http.Error(w, `{"errors":[{"code":"DENIED","message":"no"}]}`, http.StatusForbidden)
					return true
				}, registry.WithReferrersSupport(true))
			},
			wantErr: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host := c.host(t)
			subject := ocitest.PushRandomImage(t, host+"/team/app")
			var opts []remote.Option
			if c.opts != nil {
				opts = c.opts(t)
			}
			got, err := oci.SupportsReferrers(ctx, subject.Context(), opts...)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("SupportsReferrers = %v, %v; want %v, error %v", got, err, c.want, c.wantErr)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		host := strings.TrimPrefix(srv.URL, "http://")
		srv.Close()
		repo, _ := name.NewRepository(host + "/app")
		if ok, err := oci.SupportsReferrers(ctx, repo); err == nil || ok {
			t.Fatalf("SupportsReferrers of a closed server = %v, %v; want an error", ok, err)
		}
	})
}

func TestAttachBundleRoundTrip(t *testing.T) {
	ctx := context.Background()
	host := ocitest.New(t, registry.WithReferrersSupport(true))
	subject := ocitest.PushRandomImage(t, host+"/team/app")
	signer := testSigner(t)
	prov := signedBundle(t, signer, subject, ptProv)

	ref, err := oci.AttachBundle(ctx, subject, prov)
	if err != nil {
		t.Fatalf("AttachBundle: %v", err)
	}

	// The layout cosign v3 reads: a manifest about the image, one bundle layer.
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	head, err := remote.Head(subject)
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  "application/vnd.dev.sigstore.bundle.v0.3+json",
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Size: 2, Digest: v1.Hash{Algorithm: "sha256", Hex: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}},
		Subject:       &v1.Descriptor{MediaType: head.MediaType, Size: head.Size, Digest: head.Digest},
		Annotations: map[string]string{
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": ptProv,
		},
	}
	if len(m.Layers) != 1 {
		t.Fatalf("referrer has %d layers, want 1", len(m.Layers))
	}
	layer := m.Layers[0]
	m.Layers = nil
	if diff := cmp.Diff(want, *m); diff != "" {
		t.Errorf("referrer manifest (-want +got):\n%s", diff)
	}
	if layer.MediaType != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		t.Errorf("layer media type = %s", layer.MediaType)
	}

	// The bundle: public key hint, the DSSE envelope, no log entries.
	l, err := remote.Layer(subject.Context().Digest(layer.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	_ = rc.Close()
	var b struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			PublicKey   struct{ Hint string } `json:"publicKey"`
			TlogEntries []json.RawMessage     `json:"tlogEntries"`
		} `json:"verificationMaterial"`
		DsseEnvelope struct {
			Payload     []byte `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig []byte `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("bundle JSON: %v\n%s", err, raw)
	}
	if b.MediaType != "application/vnd.dev.sigstore.bundle.v0.3+json" || b.VerificationMaterial.PublicKey.Hint != signer.KeyID() ||
		len(b.VerificationMaterial.TlogEntries) != 0 || b.DsseEnvelope.PayloadType != signing.PayloadTypeInToto ||
		!bytes.Contains(b.DsseEnvelope.Payload, []byte(ptProv)) || len(b.DsseEnvelope.Signatures) != 1 || len(b.DsseEnvelope.Signatures[0].Sig) == 0 {
		t.Errorf("bundle = %s", raw)
	}

	// The registry lists it, and it reads back as the envelope that was signed.
	if im := referrersIndex(t, subject); len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != ref.DigestStr() {
		t.Fatalf("referrers index = %+v, want only %s", im.Manifests, ref.DigestStr())
	}
	got, err := oci.ReadBundleReferrers(ctx, subject)
	if err != nil {
		t.Fatalf("ReadBundleReferrers: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("ReadBundleReferrers = %d bundles, want 1", len(got))
	}
	if !bytes.Equal(got[0].Envelope, prov.Envelope) || got[0].PredicateType != ptProv || got[0].KeyHint != signer.KeyID() ||
		got[0].Referrer != ref || got[0].Digest != layer.Digest.String() {
		t.Errorf("read back %+v\nenvelope %s\nwant %s", got[0], got[0].Envelope, prov.Envelope)
	}
	// What is read back verifies under the signer's key.
	key, err := verify.ParseTrustedKeyPEM("test", signer.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier([]verify.TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, got[0].Envelope, subject.DigestStr()); err != nil {
		t.Errorf("verify envelope read from the bundle: %v", err)
	}
}

func TestAttachBundleIsIdempotent(t *testing.T) {
	ctx := context.Background()
	host := ocitest.New(t, registry.WithReferrersSupport(true))
	subject := ocitest.PushRandomImage(t, host+"/app")
	signer := testSigner(t)
	prov, sbom := signedBundle(t, signer, subject, ptProv), signedBundle(t, signer, subject, ptSBOM)

	first, err := oci.AttachBundle(ctx, subject, prov)
	if err != nil {
		t.Fatal(err)
	}
	again, err := oci.AttachBundle(ctx, subject, prov)
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Errorf("attaching the same bundle twice: %s then %s", first, again)
	}
	if im := referrersIndex(t, subject); len(im.Manifests) != 1 {
		t.Fatalf("after two identical attaches the image has %d referrers, want 1", len(im.Manifests))
	}
	second, err := oci.AttachBundle(ctx, subject, sbom)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("a different envelope got the same referrer")
	}
	got, err := oci.ReadBundleReferrers(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, b := range got {
		types = append(types, b.PredicateType)
	}
	if len(got) != 2 || got[0].Referrer.DigestStr() > got[1].Referrer.DigestStr() {
		t.Fatalf("ReadBundleReferrers = %v, want two in digest order", types)
	}
	if diff := cmp.Diff(map[string]bool{ptProv: true, ptSBOM: true}, map[string]bool{types[0]: true, types[1]: true}); diff != "" {
		t.Errorf("predicate types (-want +got):\n%s", diff)
	}
}

// Without the referrers API the bundle lands in the referrers tag schema (sha256-<hex>
// index), and is read back from there; no .att tag is written.
func TestBundleReferrersWithoutReferrersAPI(t *testing.T) {
	ctx := context.Background()
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/app")
	b := signedBundle(t, testSigner(t), subject, ptProv)
	if ok, err := oci.SupportsReferrers(ctx, subject.Context()); err != nil || ok {
		t.Fatalf("SupportsReferrers = %v, %v; want false", ok, err)
	}
	if _, err := oci.AttachBundle(ctx, subject, b); err != nil {
		t.Fatal(err)
	}
	fallback := subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
	if d, err := remote.Head(fallback); err != nil || d.MediaType != types.OCIImageIndex {
		t.Fatalf("referrers tag %s = %v, %v", fallback, d, err)
	}
	if _, err := remote.Head(subject.Context().Tag(oci.AttachmentTag(subject.DigestStr()))); err == nil {
		t.Error("AttachBundle wrote a .att tag")
	}
	got, err := oci.ReadBundleReferrers(ctx, subject)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Envelope, b.Envelope) {
		t.Fatalf("ReadBundleReferrers = %v, %v", got, err)
	}
}

func TestAttachBundleRefuses(t *testing.T) {
	ctx := context.Background()
	host := ocitest.New(t, registry.WithReferrersSupport(true))
	subject := ocitest.PushRandomImage(t, host+"/app")
	good := signedBundle(t, testSigner(t), subject, ptProv)
	with := func(f func(b *oci.BundleAttachment)) oci.BundleAttachment {
		b := good
		f(&b)
		return b
	}
	missing := subject.Context().Digest("sha256:" + strings.Repeat("1", 64))
	cases := []struct {
		name    string
		subject name.Digest
		b       oci.BundleAttachment
		want    error
	}{
		{"unpinned", name.Digest{}, good, oci.ErrNotPinned},
		{"no key hint", subject, with(func(b *oci.BundleAttachment) { b.KeyHint = "" }), oci.ErrInvalidAttachment},
		{"key hint with spaces", subject, with(func(b *oci.BundleAttachment) { b.KeyHint = "a b" }), oci.ErrInvalidAttachment},
		{"no predicate type", subject, with(func(b *oci.BundleAttachment) { b.PredicateType = "" }), oci.ErrInvalidAttachment},
		{"not JSON", subject, with(func(b *oci.BundleAttachment) { b.Envelope = []byte("{") }), oci.ErrInvalidAttachment},
		{"not DSSE", subject, with(func(b *oci.BundleAttachment) { b.Envelope = []byte(`{"hello":1}`) }), oci.ErrInvalidAttachment},
		{"payload not base64", subject, with(func(b *oci.BundleAttachment) {
			b.Envelope = []byte(`{"payloadType":"t","payload":"!!","signatures":[{"keyid":"","sig":"c2ln"}]}`)
		}), oci.ErrInvalidAttachment},
		{"no signature", subject, with(func(b *oci.BundleAttachment) {
			b.Envelope = []byte(`{"payloadType":"t","payload":"e30=","signatures":[]}`)
		}), oci.ErrInvalidAttachment},
		{"oversized", subject, with(func(b *oci.BundleAttachment) {
			b.Envelope = []byte(`{"payloadType":"t","payload":"` + strings.Repeat("A", oci.MaxEnvelopeSize) + `"}`)
		}), oci.ErrInvalidAttachment},
		{"image not in registry", missing, good, oci.ErrSubjectNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := oci.AttachBundle(ctx, c.subject, c.b); !errors.Is(err, c.want) {
				t.Fatalf("AttachBundle = %v, want %v", err, c.want)
			}
		})
	}
	if im := referrersIndex(t, subject); len(im.Manifests) != 0 {
		t.Errorf("refused attaches left %d referrers", len(im.Manifests))
	}
}

// putReferrer writes a referrer manifest of subject with the given layer (blob content
// and descriptor size) and manifest fields, and returns its reference.
func putReferrer(t *testing.T, subject name.Digest, blob []byte, size int64, layerType types.MediaType, artifactType string, about *v1.Descriptor) name.Digest {
	t.Helper()
	repo := subject.Context()
	cfg := static.NewLayer([]byte("{}"), types.OCIEmptyJSON)
	l := static.NewLayer(blob, layerType)
	for _, x := range []v1.Layer{cfg, l} {
		if err := remote.WriteLayer(repo, x); err != nil {
			t.Fatal(err)
		}
	}
	if about == nil {
		head, err := remote.Head(subject)
		if err != nil {
			t.Fatal(err)
		}
		about = &v1.Descriptor{MediaType: head.MediaType, Size: head.Size, Digest: head.Digest}
	}
	ld, _ := l.Digest()
	if size < 0 {
		size = int64(len(blob))
	}
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config:  v1.Descriptor{MediaType: types.OCIEmptyJSON, Size: 2, Digest: mustHash(t, cfg)},
		Layers:  []v1.Descriptor{{MediaType: layerType, Size: size, Digest: ld}},
		Subject: about,
		Annotations: map[string]string{
			"dev.sigstore.bundle.predicateType": ptProv,
			"n":                                 fmt.Sprint(len(blob), size, artifactType),
		},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(body))
	ref := repo.Digest(h.String())
	if err := remote.Put(ref, rawManifest{body: body, mt: types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
	return ref
}

func mustHash(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	h, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestReadBundleReferrersHostile(t *testing.T) {
	ctx := context.Background()
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	validBundle := func(t *testing.T, subject name.Digest) []byte {
		t.Helper()
		// Write a real bundle (a valid referrer of subject), and reuse its bytes.
		ref, err := oci.AttachBundle(ctx, subject, signedBundle(t, testSigner(t), subject, ptProv))
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		rc, _ := ls[0].Compressed()
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return b
	}

	t.Run("malformed JSON", func(t *testing.T) {
		host := ocitest.New(t, registry.WithReferrersSupport(true))
		subject := ocitest.PushRandomImage(t, host+"/app")
		putReferrer(t, subject, []byte(`{"mediaType":`), -1, bundleType, bundleType, nil)
		if _, err := oci.ReadBundleReferrers(ctx, subject); !errors.Is(err, oci.ErrInvalidBundle) {
			t.Fatalf("ReadBundleReferrers = %v, want ErrInvalidBundle", err)
		}
	})
	t.Run("bundle without DSSE envelope", func(t *testing.T) {
		host := ocitest.New(t, registry.WithReferrersSupport(true))
		subject := ocitest.PushRandomImage(t, host+"/app")
		msg := `{"mediaType":"` + bundleType + `","verificationMaterial":{"publicKey":{"hint":"k"}},"messageSignature":{"signature":"c2ln"}}`
		putReferrer(t, subject, []byte(msg), -1, bundleType, bundleType, nil)
		if _, err := oci.ReadBundleReferrers(ctx, subject); !errors.Is(err, oci.ErrInvalidBundle) {
			t.Fatalf("ReadBundleReferrers = %v, want ErrInvalidBundle", err)
		}
	})
	t.Run("oversized bundle", func(t *testing.T) {
		host := ocitest.New(t, registry.WithReferrersSupport(true))
		subject := ocitest.PushRandomImage(t, host+"/app")
		putReferrer(t, subject, []byte(`{}`), oci.MaxBundleSize+1, bundleType, bundleType, nil)
		if _, err := oci.ReadBundleReferrers(ctx, subject); !errors.Is(err, oci.ErrInvalidBundle) || !strings.Contains(err.Error(), "exceeds") {
			t.Fatalf("ReadBundleReferrers = %v, want ErrInvalidBundle (size)", err)
		}
	})
	t.Run("wrong digest", func(t *testing.T) {
		var mu sync.Mutex
		var tamper string // blob path answered with other bytes
		host := hookedRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			p := tamper
			mu.Unlock()
			if r.Method != http.MethodGet || p == "" || r.URL.Path != p {
				return false
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(bytes.Repeat([]byte("x"), 64))
			return true
		}, registry.WithReferrersSupport(true))
		subject := ocitest.PushRandomImage(t, host+"/app")
		body := bytes.Repeat([]byte("y"), 64)
		ref := putReferrer(t, subject, body, -1, bundleType, bundleType, nil)
		img, _ := remote.Image(ref)
		m, _ := img.Manifest()
		mu.Lock()
		tamper = "/v2/app/blobs/" + m.Layers[0].Digest.String()
		mu.Unlock()
		_, err := oci.ReadBundleReferrers(ctx, subject)
		if !errors.Is(err, oci.ErrInvalidBundle) || !errors.Is(err, oci.ErrDigestMismatch) {
			t.Fatalf("ReadBundleReferrers = %v, want ErrInvalidBundle and ErrDigestMismatch", err)
		}
	})
	t.Run("layer that is not a bundle", func(t *testing.T) {
		host := ocitest.New(t, registry.WithReferrersSupport(true))
		subject := ocitest.PushRandomImage(t, host+"/app")
		putReferrer(t, subject, validBundle(t, subject), -1, "application/octet-stream", bundleType, nil)
		if _, err := oci.ReadBundleReferrers(ctx, subject); !errors.Is(err, oci.ErrInvalidBundle) {
			t.Fatalf("ReadBundleReferrers = %v, want ErrInvalidBundle", err)
		}
	})
	t.Run("too many referrers", func(t *testing.T) {
		host := ocitest.New(t, registry.WithReferrersSupport(true))
		subject := ocitest.PushRandomImage(t, host+"/app")
		for i := 0; i <= oci.MaxBundleReferrers; i++ {
			putReferrer(t, subject, fmt.Appendf(nil, `{"n":%d}`, i), -1, bundleType, bundleType, nil)
		}
		if _, err := oci.ReadBundleReferrers(ctx, subject); !errors.Is(err, oci.ErrTooManyReferrers) {
			t.Fatalf("ReadBundleReferrers = %v, want ErrTooManyReferrers", err)
		}
	})
	t.Run("referrer about another image", func(t *testing.T) {
		// A registry without the API reads the sha256-<hex> index tag, which anyone who can
		// push may write: it may list a bundle about another image.
		host := ocitest.New(t)
		subject := ocitest.PushRandomImage(t, host+"/app")
		other := ocitest.PushRandomImage(t, host+"/app")
		oh, _ := remote.Head(other)
		ref := putReferrer(t, subject, validBundle(t, other), -1, bundleType, bundleType, &v1.Descriptor{MediaType: oh.MediaType, Size: oh.Size, Digest: oh.Digest})
		rd, _ := remote.Head(ref)
		idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1, Size: rd.Size, Digest: rd.Digest, ArtifactType: bundleType,
		}}}
		body, _ := json.Marshal(idx)
		fallback := subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
		if err := remote.Put(fallback, rawManifest{body: body, mt: types.OCIImageIndex}); err != nil {
			t.Fatal(err)
		}
		if _, err := oci.ReadBundleReferrers(ctx, subject); !errors.Is(err, oci.ErrUnexpectedManifest) {
			t.Fatalf("ReadBundleReferrers = %v, want ErrUnexpectedManifest", err)
		}
	})
	t.Run("other artifacts are skipped", func(t *testing.T) {
		host := ocitest.New(t, registry.WithReferrersSupport(true))
		subject := ocitest.PushRandomImage(t, host+"/app")
		putReferrer(t, subject, []byte(`{"spdxVersion":"SPDX-2.3"}`), -1, "application/spdx+json", "application/spdx+json", nil)
		got, err := oci.ReadBundleReferrers(ctx, subject)
		if err != nil || len(got) != 0 {
			t.Fatalf("ReadBundleReferrers = %v, %v; want none", got, err)
		}
	})
	t.Run("unpinned", func(t *testing.T) {
		if _, err := oci.ReadBundleReferrers(ctx, name.Digest{}); !errors.Is(err, oci.ErrNotPinned) {
			t.Fatalf("ReadBundleReferrers = %v, want ErrNotPinned", err)
		}
	})
}

func TestCopyBundleReferrers(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		dstAPI    bool
		wantCount int
	}{
		{"destination with referrers API", true, 1},
		{"destination without referrers API", false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := ocitest.New(t, registry.WithReferrersSupport(true))
			var dst string
			if c.dstAPI {
				dst = ocitest.New(t, registry.WithReferrersSupport(true))
			} else {
				dst = ocitest.New(t)
			}
			subject := ocitest.PushRandomImage(t, src+"/staging/app")
			b := signedBundle(t, testSigner(t), subject, ptProv)
			ref, err := oci.AttachBundle(ctx, subject, b)
			if err != nil {
				t.Fatal(err)
			}
			dstRepo, _ := name.NewRepository(dst + "/prod/app")
			copied, err := oci.Copy(ctx, subject, dstRepo, "v1")
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if copied.Referrers != c.wantCount {
				t.Errorf("Copied.Referrers = %d, want %d", copied.Referrers, c.wantCount)
			}
			got, err := oci.ReadBundleReferrers(ctx, copied.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.wantCount {
				t.Fatalf("destination has %d bundles, want %d", len(got), c.wantCount)
			}
			if c.wantCount == 1 && (got[0].Referrer.DigestStr() != ref.DigestStr() || !bytes.Equal(got[0].Envelope, b.Envelope)) {
				t.Errorf("destination bundle %s, want %s with the same envelope", got[0].Referrer, ref)
			}
		})
	}
}

func ExampleAttachBundle() {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
	defer srv.Close()
	repo, _ := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/app")
	img := static.NewLayer([]byte("not an image"), types.OCIEmptyJSON)
	_ = remote.WriteLayer(repo, img)
	h, _ := img.Digest()
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"size":12,"digest":%q},"layers":[]}`,
		types.OCIManifestSchema1, types.OCIEmptyJSON, h)
	mh, _, _ := v1.SHA256(strings.NewReader(manifest))
	subject := repo.Digest(mh.String())
	_ = remote.Put(subject, rawManifest{body: []byte(manifest), mt: types.OCIManifestSchema1})

	ctx := context.Background()
	ok, _ := oci.SupportsReferrers(ctx, repo)
	env := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"c2ln"}]}`)
	if _, err := oci.AttachBundle(ctx, subject, oci.BundleAttachment{
		Attachment: oci.Attachment{Envelope: env, PredicateType: "https://slsa.dev/provenance/v1"},
		KeyHint:    "my-key-id",
	}); err != nil {
		fmt.Println(err)
		return
	}
	bundles, _ := oci.ReadBundleReferrers(ctx, subject)
	fmt.Println(ok, len(bundles), bundles[0].PredicateType, bundles[0].KeyHint)
	fmt.Println(string(bundles[0].Envelope))
	// Output:
	// true 1 https://slsa.dev/provenance/v1 my-key-id
	// {"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"c2ln"}]}
}

package oci_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
)

// fastRetry retries quickly enough for tests.
func fastRetry(attempts int) []remote.Option {
	return oci.RetryOptions(oci.Backoff{Attempts: attempts, Initial: time.Millisecond, Max: 2 * time.Millisecond})
}

func repoAt(t *testing.T, host, path string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(host + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushIndex pushes a multi-platform index of small random images (two layers each) to
// repo and returns it pinned, with its platform manifests' digests in index order.
func pushIndex(t *testing.T, repo name.Repository, archs ...string) (name.Digest, []string) {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	var children []string
	for _, arch := range archs {
		img, err := random.Image(300, 2)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
		children = append(children, mustDigest(t, img).String())
	}
	h := mustDigest(t, idx)
	ref := repo.Digest(h.String())
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	return ref, children
}

func mustDigest(t *testing.T, m interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// attachOrFail attaches envelopes numbered ns to subject.
func attachOrFail(t *testing.T, subject name.Digest, ns ...int) {
	t.Helper()
	var atts []oci.Attachment
	for _, n := range ns {
		atts = append(atts, att(n, ptProv))
	}
	if _, err := oci.Attach(context.Background(), subject, atts); err != nil {
		t.Fatalf("attach to %s: %v", subject, err)
	}
}

// envelopesAt returns the envelopes attached to subject, as strings, in manifest order.
func envelopesAt(t *testing.T, subject name.Digest) []string {
	t.Helper()
	got, err := oci.ReadAttachments(context.Background(), subject)
	if err != nil {
		t.Fatalf("read attachments of %s: %v", subject, err)
	}
	var out []string
	for _, a := range got {
		out = append(out, string(a.Envelope))
	}
	return out
}

func envelopes(ns ...int) []string {
	var out []string
	for _, n := range ns {
		out = append(out, string(envelope(n)))
	}
	return out
}

// pullAll reads the manifest ref names, and for an image every layer and its config,
// from the registry; it fails the test where anything is missing or corrupt.
func pullAll(t *testing.T, ref name.Digest, opts ...remote.Option) {
	t.Helper()
	img, err := remote.Image(ref, opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if _, err := img.RawConfigFile(); err != nil {
		t.Errorf("config of %s: %v", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("layers of %s: %v", ref, err)
	}
	if len(layers) == 0 {
		t.Errorf("%s has no layers", ref)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer of %s: %v", ref, err)
		}
		// go-containerregistry checks the digest as the blob is read to the end.
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Errorf("layer of %s: %v", ref, err)
		}
		_ = rc.Close()
	}
}

// A multi-platform index arrives whole in another registry, with the attachments of the
// index and of every platform manifest, and its bundle referrers.
func TestCopyIndexAcrossRegistries(t *testing.T) {
	ctx := context.Background()
	srcHost := ocitest.New(t, registry.WithReferrersSupport(true))
	dstHost := ocitest.New(t, registry.WithReferrersSupport(true))
	srcRepo, dstRepo := repoAt(t, srcHost, "staging/app"), repoAt(t, dstHost, "prod/app")
	idx, children := pushIndex(t, srcRepo, "amd64", "arm64", "s390x")

	// Scanners attest per platform: each child has its own .att, the index too.
	attachOrFail(t, idx, 100)
	for i, c := range children {
		attachOrFail(t, srcRepo.Digest(c), i+1, 10+i)
	}
	// A signature on one platform, and a bundle referrer on another.
	sigTag := srcRepo.Tag(strings.Replace(children[0], ":", "-", 1) + ".sig")
	if err := remote.Write(sigTag, sigManifest(t, "c2lnQQ==")); err != nil {
		t.Fatal(err)
	}
	bundle := signedBundle(t, testSigner(t), srcRepo.Digest(children[2]), ptSBOM)
	if _, err := oci.AttachBundle(ctx, srcRepo.Digest(children[2]), bundle); err != nil {
		t.Fatal(err)
	}

	copied, err := oci.Copy(ctx, idx, dstRepo, "v1", fastRetry(3)...)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	var wantChildren []name.Digest
	for _, c := range children {
		wantChildren = append(wantChildren, dstRepo.Digest(c))
	}
	want := oci.Copied{
		Digest:      dstRepo.Digest(idx.DigestStr()),
		Manifests:   4,
		Children:    wantChildren,
		Attachments: 5, // four .att and one .sig
		Referrers:   1,
	}
	if diff := cmp.Diff(want, copied, cmp.Comparer(func(a, b name.Digest) bool { return a.String() == b.String() })); diff != "" {
		t.Errorf("Copied (-want +got):\n%s", diff)
	}

	// Every platform manifest, config and layer can be pulled from the destination.
	for _, c := range children {
		pullAll(t, dstRepo.Digest(c))
	}
	if d, err := remote.Head(dstRepo.Tag("v1")); err != nil || d.Digest.String() != idx.DigestStr() {
		t.Errorf("destination v1 = %v, %v; want %s", d, err, idx.DigestStr())
	}
	if got := envelopesAt(t, dstRepo.Digest(idx.DigestStr())); !slices.Equal(got, envelopes(100)) {
		t.Errorf("index attachments at destination = %q", got)
	}
	for i, c := range children {
		if got := envelopesAt(t, dstRepo.Digest(c)); !slices.Equal(got, envelopes(i+1, 10+i)) {
			t.Errorf("platform %d attachments at destination = %q", i, got)
		}
	}
	if _, err := remote.Get(dstRepo.Tag(strings.Replace(children[0], ":", "-", 1) + ".sig")); err != nil {
		t.Errorf("platform signature not copied: %v", err)
	}
	bundles, err := oci.ReadBundleReferrers(ctx, dstRepo.Digest(children[2]))
	if err != nil || len(bundles) != 1 || string(bundles[0].Envelope) != string(bundle.Envelope) {
		t.Errorf("platform bundle referrers at destination = %+v, %v", bundles, err)
	}
}

// sigManifest is a cosign signature manifest (.sig) with one simple-signing layer per
// signature, all over the same payload.
func sigManifest(t *testing.T, sigs ...string) v1.Image {
	t.Helper()
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	payload := []byte(`{"critical":{"type":"cosign container image signature"}}`)
	for _, s := range sigs {
		var err error
		base, err = mutate.Append(base, mutate.Addendum{
			Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
			Annotations: map[string]string{oci.AnnotationSignature: s},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return base
}

func sigAnnotations(t *testing.T, tag name.Tag) []string {
	t.Helper()
	m := manifestOf(t, tag)
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Annotations[oci.AnnotationSignature])
	}
	return out
}

func manifestOf(t *testing.T, ref name.Reference) *v1.Manifest {
	t.Helper()
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// What the destination already holds under the attachment tags is kept: .att layers,
// .sig signatures and referrers fallback entries; the source's are added, once.
func TestCopyMergesDestinationAttachments(t *testing.T) {
	ctx := context.Background()
	// Neither registry has the referrers API: bundles live in the sha256-<hex> index tag.
	host := ocitest.New(t)
	srcRepo, dstRepo := repoAt(t, host, "staging/app"), repoAt(t, host, "prod/app")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	src := ocitest.Push(t, srcRepo, img)
	dst := ocitest.Push(t, dstRepo, img)
	hexTag := strings.Replace(src.DigestStr(), ":", "-", 1)

	// At the destination, earlier: a decision attestation (1) and a shared one (2), a
	// signature A, and a bundle referrer.
	attachOrFail(t, dst, 1, 2)
	if err := remote.Write(dstRepo.Tag(hexTag+".sig"), sigManifest(t, "c2lnQQ==")); err != nil {
		t.Fatal(err)
	}
	signer := testSigner(t)
	dstBundle := signedBundle(t, signer, dst, ptProv)
	if _, err := oci.AttachBundle(ctx, dst, dstBundle); err != nil {
		t.Fatal(err)
	}
	// At the source: the shared attestation (2) and a new one (3); signatures A and B
	// over the same payload; another bundle referrer.
	attachOrFail(t, src, 2, 3)
	if err := remote.Write(srcRepo.Tag(hexTag+".sig"), sigManifest(t, "c2lnQQ==", "c2lnQg==")); err != nil {
		t.Fatal(err)
	}
	srcBundle := signedBundle(t, signer, src, ptSBOM)
	if _, err := oci.AttachBundle(ctx, src, srcBundle); err != nil {
		t.Fatal(err)
	}

	copied, err := oci.Copy(ctx, src, dstRepo, "v1", fastRetry(3)...)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if copied.Attachments != 3 || copied.Merged != 3 {
		t.Errorf("Copied = %+v; want 3 attachment tags, all 3 merged", copied)
	}
	if got := envelopesAt(t, dst); !slices.Equal(got, envelopes(1, 2, 3)) {
		t.Errorf("destination attestations = %q; want 1, 2, 3 (the destination's kept, first, no duplicate)", got)
	}
	// The merged .att keeps the layout cosign reads.
	m := manifestOf(t, dstRepo.Tag(hexTag+".att"))
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("merged .att is %s with config %s", m.MediaType, m.Config.MediaType)
	}
	for i, l := range m.Layers {
		if v, ok := l.Annotations[oci.AnnotationSignature]; l.MediaType != oci.MediaTypeDSSE || !ok || v != "" || l.Annotations[oci.AnnotationPredicateType] != ptProv {
			t.Errorf("merged .att layer %d: %s %v", i, l.MediaType, l.Annotations)
		}
	}
	if got := sigAnnotations(t, dstRepo.Tag(hexTag+".sig")); !slices.Equal(got, []string{"c2lnQQ==", "c2lnQg=="}) {
		t.Errorf("destination signatures = %q; want A then B (same payload, two signatures)", got)
	}
	bundles, err := oci.ReadBundleReferrers(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	var gotBundles []string
	for _, b := range bundles {
		gotBundles = append(gotBundles, string(b.Envelope))
	}
	slices.Sort(gotBundles)
	wantBundles := []string{string(dstBundle.Envelope), string(srcBundle.Envelope)}
	slices.Sort(wantBundles)
	if !slices.Equal(gotBundles, wantBundles) {
		t.Errorf("destination bundles = %d, want both the destination's and the source's", len(gotBundles))
	}
}

// destinationState maps every tag in repo, and every digest in pinned, to the digest
// the registry answers for it.
func destinationState(t *testing.T, repo name.Repository, pinned ...name.Digest) map[string]string {
	t.Helper()
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, tag := range tags {
		d, err := remote.Head(repo.Tag(tag))
		if err != nil {
			t.Fatal(err)
		}
		state[tag] = d.Digest.String()
	}
	for _, p := range pinned {
		d, err := remote.Head(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		state[p.DigestStr()] = d.Digest.String()
	}
	return state
}

// requestLog records the requests a registry receives.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.RequestURI())
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// matching returns the recorded requests with the given method whose URI contains part.
func (l *requestLog) matching(method, part string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, part) {
			out = append(out, r)
		}
	}
	return out
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

// Copying twice leaves the destination as the first copy did, and writes nothing.
func TestCopyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	srcHost := ocitest.New(t)
	var log requestLog
	dstHost := ocitest.Serve(t, log.wrap(ocitest.Handler()))
	srcRepo, dstRepo := repoAt(t, srcHost, "staging/app"), repoAt(t, dstHost, "prod/app")
	idx, children := pushIndex(t, srcRepo, "amd64", "arm64")
	attachOrFail(t, idx, 1)
	attachOrFail(t, srcRepo.Digest(children[1]), 2, 3)
	bundleSubject := srcRepo.Digest(children[0])
	if _, err := oci.AttachBundle(ctx, bundleSubject, signedBundle(t, testSigner(t), bundleSubject, ptProv)); err != nil {
		t.Fatal(err)
	}
	first, err := oci.Copy(ctx, idx, dstRepo, "", fastRetry(3)...)
	if err != nil {
		t.Fatal(err)
	}
	// Then a decision attestation is attached at the destination, and a new scan
	// result at the source.
	attachOrFail(t, dstRepo.Digest(children[1]), 4)
	attachOrFail(t, srcRepo.Digest(children[1]), 5)

	second, err := oci.Copy(ctx, idx, dstRepo, "v1", fastRetry(3)...)
	if err != nil {
		t.Fatal(err)
	}
	before := destinationState(t, dstRepo, append(second.Children, second.Digest)...)
	log.reset()
	third, err := oci.Copy(ctx, idx, dstRepo, "v1", fastRetry(3)...)
	if err != nil {
		t.Fatal(err)
	}
	after := destinationState(t, dstRepo, append(third.Children, third.Digest)...)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("destination changed on a repeated copy (-before +after):\n%s", diff)
	}
	if puts := log.matching(http.MethodPut, "/manifests/"); len(puts) != 0 {
		t.Errorf("a repeated copy wrote manifests: %v", puts)
	}
	if got := envelopesAt(t, dstRepo.Digest(children[1])); !slices.Equal(got, envelopes(2, 3, 4, 5)) {
		t.Errorf("platform attestations after three copies = %q; want 2, 3, 4, 5", got)
	}
	if first.Attachments != 3 || second.Attachments != 3 || third.Attachments != 3 {
		t.Errorf("Attachments = %d, %d, %d; want 3 each time", first.Attachments, second.Attachments, third.Attachments)
	}
	if second.Merged != 1 || third.Merged != 0 {
		t.Errorf("Merged = %d then %d; want 1 (the new scan result into the decision attestation) then 0", second.Merged, third.Merged)
	}
}

// Within one registry, blobs are mounted from the source repository, not uploaded again.
func TestCopyMountsBlobsWithinRegistry(t *testing.T) {
	ctx := context.Background()
	blobs := ocitest.NewRepoBlobs()
	var log requestLog
	host := ocitest.Serve(t, log.wrap(blobs.Handler()))
	srcRepo, dstRepo := repoAt(t, host, "staging/app"), repoAt(t, host, "prod/app")
	idx, children := pushIndex(t, srcRepo, "amd64", "arm64")
	attachOrFail(t, srcRepo.Digest(children[0]), 1)

	// Every blob of both platforms and of the attestation.
	want := map[string]bool{}
	refs := []name.Reference{srcRepo.Digest(children[0]), srcRepo.Digest(children[1]), srcRepo.Tag(oci.AttachmentTag(children[0]))}
	for _, ref := range refs {
		m := manifestOf(t, ref)
		want[m.Config.Digest.String()] = true
		for _, l := range m.Layers {
			want[l.Digest.String()] = true
		}
	}
	for d := range want {
		h, _ := v1.NewHash(d)
		if blobs.Has("prod/app", h) {
			t.Fatalf("destination repository has %s before the copy", d)
		}
	}

	log.reset()
	if _, err := oci.Copy(ctx, idx, dstRepo, "v1", fastRetry(3)...); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	got := map[string]bool{}
	for _, m := range blobs.Mounts() {
		if m.From != "staging/app" || m.To != "prod/app" {
			t.Errorf("mount %+v; want from staging/app to prod/app", m)
		}
		got[m.Digest.String()] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mounted blobs (-want +got):\n%s", diff)
	}
	if uploads := log.matching(http.MethodPatch, "/blobs/uploads/"); len(uploads) != 0 {
		t.Errorf("blobs uploaded instead of mounted: %v", uploads)
	}
	for _, c := range children {
		pullAll(t, dstRepo.Digest(c))
	}

	// Merging into an attestation the destination has: the source's new layer is
	// mounted too; only the merged manifest's new config is uploaded.
	attachOrFail(t, srcRepo.Digest(children[0]), 2)
	attachOrFail(t, dstRepo.Digest(children[0]), 3)
	newLayer := manifestOf(t, srcRepo.Tag(oci.AttachmentTag(children[0]))).Layers[1].Digest
	log.reset()
	copied, err := oci.Copy(ctx, idx, dstRepo, "v1", fastRetry(3)...)
	if err != nil {
		t.Fatalf("second Copy: %v", err)
	}
	if copied.Merged != 1 {
		t.Errorf("Merged = %d, want 1", copied.Merged)
	}
	if mounts := blobs.Mounts(); mounts[len(mounts)-1].Digest != newLayer {
		t.Errorf("last mount %v, want the new attestation layer %s", mounts[len(mounts)-1], newLayer)
	}
	if uploads := log.matching(http.MethodPatch, "/blobs/uploads/"); len(uploads) != 1 {
		t.Errorf("uploads = %v; want only the merged manifest's config", uploads)
	}
	if got := envelopesAt(t, dstRepo.Digest(children[0])); !slices.Equal(got, envelopes(1, 3, 2)) {
		t.Errorf("destination attestations = %q; want 1, 3, 2", got)
	}
}

func ExampleTag() {
	srv := httptest.NewServer(ocitest.Handler())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	src, _ := name.NewRepository(host + "/staging/app")
	dst, _ := name.NewRepository(host + "/prod/app")
	img, _ := random.Image(64, 1)
	h, _ := img.Digest()
	_ = remote.Write(src.Digest(h.String()), img)

	ctx := context.Background()
	// Copy by digest without a tag, check what arrived, then tag it.
	copied, err := oci.Copy(ctx, src.Digest(h.String()), dst, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := oci.Tag(ctx, copied.Digest, "v1"); err != nil {
		fmt.Println(err)
		return
	}
	d, _ := remote.Head(dst.Tag("v1"))
	fmt.Println(copied.Manifests, d.Digest == h)
	// Output:
	// 1 true
}

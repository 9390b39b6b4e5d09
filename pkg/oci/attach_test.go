package oci_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

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

func envelope(n int) []byte {
	return fmt.Appendf(nil, `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"c2lnLSVk%d"}]}`, n)
}

func att(n int, pt string) oci.Attachment {
	return oci.Attachment{Envelope: envelope(n), PredicateType: pt}
}

const (
	ptProv = "https://slsa.dev/provenance/v1"
	ptSBOM = "https://cyclonedx.org/bom"
)

// manifestAt fetches the manifest the image's .att tag names.
func manifestAt(t *testing.T, subject name.Digest) (*v1.Manifest, string) {
	t.Helper()
	desc, err := remote.Get(subject.Context().Tag(oci.AttachmentTag(subject.DigestStr())))
	if err != nil {
		t.Fatalf("get .att manifest: %v", err)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	return m, desc.Digest.String()
}

// attachFunc is one of the two ways to attach: the package's Attach (through
// go-containerregistry's writer) and a Client's (its own requests).
type attachFunc func(context.Context, name.Digest, []oci.Attachment) (name.Digest, error)

// eachAttach runs f once with oci.Attach and once with a new Client's Attach.
func eachAttach(t *testing.T, f func(t *testing.T, attach attachFunc)) {
	t.Run("Attach", func(t *testing.T) {
		f(t, func(ctx context.Context, d name.Digest, atts []oci.Attachment) (name.Digest, error) {
			return oci.Attach(ctx, d, atts)
		})
	})
	t.Run("Client", func(t *testing.T) {
		c, err := oci.NewClient(oci.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(t, c.Attach)
	})
}

func TestAttachAppendsIdempotently(t *testing.T) { eachAttach(t, testAttachAppendsIdempotently) }

func testAttachAppendsIdempotently(t *testing.T, attach attachFunc) {
	ctx := context.Background()
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/team/app")

	first, err := attach(ctx, subject, []oci.Attachment{att(1, ptProv), att(2, ptSBOM)})
	if err != nil {
		t.Fatal(err)
	}
	m, d := manifestAt(t, subject)
	if len(m.Layers) != 2 || d != first.DigestStr() || first.Context() != subject.Context() {
		t.Fatalf("after two: %d layers, manifest %s, Attach returned %s", len(m.Layers), d, first)
	}

	second, err := attach(ctx, subject, []oci.Attachment{att(3, ptProv)})
	if err != nil {
		t.Fatal(err)
	}
	m, d = manifestAt(t, subject)
	if len(m.Layers) != 3 || d != second.DigestStr() {
		t.Fatalf("after three: %d layers, manifest %s, Attach returned %s", len(m.Layers), d, second)
	}

	// Re-attaching what is there (alone or with duplicates in one call) changes nothing.
	again, err := attach(ctx, subject, []oci.Attachment{att(1, ptProv), att(3, ptProv), att(3, ptProv)})
	if err != nil {
		t.Fatal(err)
	}
	m, d = manifestAt(t, subject)
	if len(m.Layers) != 3 || d != second.DigestStr() || again != second {
		t.Fatalf("after re-attach: %d layers, manifest %s (was %s), Attach returned %s", len(m.Layers), d, second, again)
	}

	// The layout cosign reads.
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s with config %s, want OCI manifest and OCI config", m.MediaType, m.Config.MediaType)
	}
	wantPT := []string{ptProv, ptSBOM, ptProv}
	for i, l := range m.Layers {
		if l.MediaType != oci.MediaTypeDSSE {
			t.Errorf("layer %d media type %s", i, l.MediaType)
		}
		if v, ok := l.Annotations[oci.AnnotationSignature]; !ok || v != "" {
			t.Errorf("layer %d: signature annotation %q present=%v", i, v, ok)
		}
		if l.Annotations[oci.AnnotationPredicateType] != wantPT[i] {
			t.Errorf("layer %d predicateType %q, want %q", i, l.Annotations[oci.AnnotationPredicateType], wantPT[i])
		}
	}

	got, err := oci.ReadAttachments(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ReadAttachments returned %d", len(got))
	}
	for i, n := range []int{1, 2, 3} {
		if string(got[i].Envelope) != string(envelope(n)) || got[i].PredicateType != wantPT[i] || got[i].Digest != m.Layers[i].Digest.String() {
			t.Errorf("attachment %d = %s %s %s", i, got[i].Envelope, got[i].PredicateType, got[i].Digest)
		}
	}
}

func TestAttachKeepsLayersItDidNotWrite(t *testing.T) {
	eachAttach(t, testAttachKeepsLayersItDidNotWrite)
}

func testAttachKeepsLayersItDidNotWrite(t *testing.T, attach attachFunc) {
	ctx := context.Background()
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/app")
	tag := subject.Context().Tag(oci.AttachmentTag(subject.DigestStr()))

	// Someone else (cosign, say) attached a layer of another kind first.
	foreign := static.NewLayer([]byte(`{"other":true}`), "application/vnd.example.other+json")
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: foreign, Annotations: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	if _, err := attach(ctx, subject, []oci.Attachment{att(1, ptProv)}); err != nil {
		t.Fatal(err)
	}
	m, _ := manifestAt(t, subject)
	fd, _ := foreign.Digest()
	if len(m.Layers) != 2 || m.Layers[0].Digest != fd || m.Layers[0].Annotations["k"] != "v" {
		t.Fatalf("foreign layer not kept first: %+v", m.Layers)
	}
	got, err := oci.ReadAttachments(ctx, subject)
	if err != nil || len(got) != 1 || got[0].PredicateType != ptProv {
		t.Fatalf("ReadAttachments = %+v, %v; want only the DSSE layer", got, err)
	}
}

func TestAttachRefuses(t *testing.T) { eachAttach(t, testAttachRefuses) }

func testAttachRefuses(t *testing.T, attach attachFunc) {
	ctx := context.Background()
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/app")
	missing := subject.Context().Digest("sha256:" + strings.Repeat("0", 64))

	// An .att tag that names an index is left alone.
	idxSubject := ocitest.PushRandomImage(t, host+"/idx")
	idx, err := random.Index(64, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	idxTag := idxSubject.Context().Tag(oci.AttachmentTag(idxSubject.DigestStr()))
	if err := remote.WriteIndex(idxTag, idx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		subject name.Digest
		atts    []oci.Attachment
		want    error
	}{
		{"unpinned", name.Digest{}, []oci.Attachment{att(1, ptProv)}, oci.ErrNotPinned},
		{"image missing", missing, []oci.Attachment{att(1, ptProv)}, oci.ErrSubjectNotFound},
		{"no attachments", subject, nil, oci.ErrInvalidAttachment},
		{"empty envelope", subject, []oci.Attachment{{PredicateType: ptProv}}, oci.ErrInvalidAttachment},
		{"not JSON", subject, []oci.Attachment{{Envelope: []byte("{"), PredicateType: ptProv}}, oci.ErrInvalidAttachment},
		{"no predicate type", subject, []oci.Attachment{{Envelope: envelope(1)}}, oci.ErrInvalidAttachment},
		{"too large", subject, []oci.Attachment{{Envelope: make([]byte, oci.MaxEnvelopeSize+1), PredicateType: ptProv}}, oci.ErrInvalidAttachment},
		{"tag names an index", idxSubject, []oci.Attachment{att(1, ptProv)}, oci.ErrUnexpectedManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := attach(ctx, tc.subject, tc.atts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Attach = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := remote.Get(subject.Context().Tag(oci.AttachmentTag(subject.DigestStr()))); err == nil {
		t.Error("a refused Attach wrote the .att tag")
	}
	if d, err := remote.Head(idxTag); err != nil || d.MediaType != types.OCIImageIndex {
		t.Errorf("index at %s was replaced: %v %v", idxTag, d, err)
	}
}

// rawManifest lets a test write a manifest that names blobs the registry lacks.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

func TestReadAttachmentsBounds(t *testing.T) {
	ctx := context.Background()
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/app")

	got, err := oci.ReadAttachments(ctx, subject)
	if err != nil || len(got) != 0 {
		t.Fatalf("no .att tag: ReadAttachments = %v, %v; want empty", got, err)
	}

	huge := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"size":2,"digest":"sha256:%s"},"layers":[{"mediaType":%q,"size":%d,"digest":"sha256:%s"}]}`,
		types.OCIManifestSchema1, types.OCIConfigJSON, strings.Repeat("1", 64), oci.MediaTypeDSSE, oci.MaxEnvelopeSize+1, strings.Repeat("2", 64))
	tag := subject.Context().Tag(oci.AttachmentTag(subject.DigestStr()))
	if err := remote.Put(tag, rawManifest{body: []byte(huge), mt: types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.ReadAttachments(ctx, subject); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("oversized layer: ReadAttachments = %v", err)
	}
	if _, err := oci.Attach(ctx, subject, []oci.Attachment{att(1, ptProv)}); err == nil {
		t.Error("Attach appended to a manifest whose blobs are missing")
	}
	if _, err := oci.ReadAttachments(ctx, name.Digest{}); !errors.Is(err, oci.ErrNotPinned) {
		t.Errorf("unpinned: %v", err)
	}
}

func TestAttachmentTag(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	if got, want := oci.AttachmentTag(d), "sha256-"+strings.Repeat("ab", 32)+".att"; got != want {
		t.Errorf("AttachmentTag = %q, want %q", got, want)
	}
}

func ExampleAttach() {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo, _ := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/app")
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	h, _ := img.Digest()
	subject := repo.Digest(h.String())
	_ = remote.Write(subject, img)

	env := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`)
	if _, err := oci.Attach(context.Background(), subject, []oci.Attachment{{Envelope: env, PredicateType: "https://slsa.dev/provenance/v1"}}); err != nil {
		fmt.Println(err)
		return
	}
	atts, _ := oci.ReadAttachments(context.Background(), subject)
	fmt.Println(oci.AttachmentTag(subject.DigestStr()))
	fmt.Println(len(atts), atts[0].PredicateType)
	// Output:
	// sha256-3d56b3c004797db33c7f771a2194d4c43a6cb740954863530b45f471da48cc08.att
	// 1 https://slsa.dev/provenance/v1
}

// Attaching one more envelope costs the same number of registry requests however many
// are attached already: only the new layer, the config and the manifest are written. A
// Client does it in fewer requests than go-containerregistry's writer (no existence
// checks, monolithic uploads, the config it wrote kept), and the image it leaves is
// whole and consistent: every blob there, the config's diff_ids naming the layers.
func TestAttachCostDoesNotGrowWithAttachments(t *testing.T) {
	perAttach := map[string]int64{}
	eachAttach(t, func(t *testing.T, attach attachFunc) {
		ctx := context.Background()
		var requests atomic.Int64
		var configGets atomic.Int64
		h := ocitest.Handler()
		host := ocitest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				configGets.Add(1)
			}
			h.ServeHTTP(w, r)
		}))
		subject := ocitest.PushRandomImage(t, host+"/team/app")
		cost := make([]int64, 0, 30)
		for i := range 30 {
			before := requests.Load()
			if _, err := attach(ctx, subject, []oci.Attachment{att(i, ptProv)}); err != nil {
				t.Fatal(err)
			}
			cost = append(cost, requests.Load()-before)
		}
		if cost[29] != cost[2] {
			t.Errorf("requests per attach grew from %d (3rd) to %d (30th): %v", cost[2], cost[29], cost)
		}
		perAttach[t.Name()] = cost[29]
		if strings.HasSuffix(t.Name(), "/Client") && configGets.Load() != 0 {
			t.Errorf("a Client fetched %d config blobs back: it keeps the ones it wrote", configGets.Load())
		}
		t.Logf("requests per attach: %v; config blobs fetched: %d", cost, configGets.Load())
		m, _ := manifestAt(t, subject)
		if len(m.Layers) != 30 {
			t.Fatalf(".att manifest has %d layers, want 30", len(m.Layers))
		}
		// Every layer and the config are in the registry: the image reads back whole.
		got, err := oci.ReadAttachments(ctx, subject)
		if err != nil || len(got) != 30 {
			t.Fatalf("ReadAttachments = %d, %v", len(got), err)
		}
		img, err := remote.Image(subject.Context().Tag(oci.AttachmentTag(subject.DigestStr())))
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil || len(cf.RootFS.DiffIDs) != len(m.Layers) {
			t.Fatalf("config: %v, %v", cf, err)
		}
		for i, l := range m.Layers {
			if cf.RootFS.DiffIDs[i] != l.Digest {
				t.Errorf("config diff_id %d is %s, layer %s", i, cf.RootFS.DiffIDs[i], l.Digest)
			}
		}
	})
	attach, client := perAttach["TestAttachCostDoesNotGrowWithAttachments/Attach"], perAttach["TestAttachCostDoesNotGrowWithAttachments/Client"]
	if client == 0 || client > 7 || client >= attach {
		t.Errorf("a Client's attach takes %d requests, the package's %d: want at most 7 (HEAD image, GET .att, POST+PUT per blob, PUT manifest)", client, attach)
	}
}

package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

func benchAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// BenchmarkDevBuildToAttested measures build events carried end to end by `custody dev`:
// from POST /v1/events/build to both attestations (provenance and SBOM) verified and
// recorded by the ledger, for distinct small images (a random layer plus a dpkg database).
// Reported as builds/s; see docs/benchmarks.md.
func BenchmarkDevBuildToAttested(b *testing.B) {
	elapsed := benchDevBuilds(b, "")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "builds/s")
}

// benchDevBuilds starts a `custody dev` stack whose ledger database is db ("" for SQLite
// in the data directory), pushes b.N distinct images, and times posting a build event for
// each until the ledger has recorded both attestations of every build. The timer is
// stopped when it returns.
func benchDevBuilds(b *testing.B, db string) time.Duration {
	b.Helper()
	s := startDev(b, devConfig{
		data: b.TempDir(), addr: benchAddr(b), registryAddr: benchAddr(b), natsAddr: "127.0.0.1:0",
		stream: "CUSTODY", prefix: "custody", bucket: "CUSTODY_BLOBS", evidenceWait: time.Minute, db: db,
	})
	defer s.shutdown(context.Background())
	token := devTokenOf(b, s.cfg.data)

	refs := make([]string, b.N)
	for i := range refs {
		refs[i] = benchImage(b, s.cfg.registryAddr, i)
	}
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	recorded := map[string]int{}
	done := make(chan struct{})
	finished := false
	sub, err := nc.Subscribe("custody.attestation.recorded", func(m *nats.Msg) {
		var ev eventsv1.AttestationRecorded
		if proto.Unmarshal(m.Data, &ev) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		recorded[ev.GetDigest()]++
		if !finished && len(recorded) == b.N {
			for _, n := range recorded {
				if n < 2 {
					return
				}
			}
			finished = true
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()

	b.ResetTimer()
	start := time.Now()
	for i, ref := range refs {
		body := fmt.Sprintf(`{"image":%q,"sourceRepository":"https://git.example/bench","commit":"%040x","builderId":"urn:custody:builder:dev"}`, ref, i)
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.cfg.addr+"/v1/events/build", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("build event %d: %s", i, resp.Status)
		}
	}
	select {
	case <-done:
	case <-time.After(10*time.Minute + time.Duration(b.N)*time.Second):
		mu.Lock()
		n := len(recorded)
		mu.Unlock()
		b.Fatalf("only %d of %d builds attested", n, b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	return elapsed
}

// benchImage pushes a distinct small image and returns it pinned by digest.
func benchImage(b *testing.B, registry string, i int) string {
	base, err := random.Image(2048, 1)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	status := fmt.Sprintf("Package: bench%d\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-%d\n\n", i, i)
	_ = tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Mode: 0o644, Size: int64(len(status)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(status))
	_ = tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		b.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		b.Fatal(err)
	}
	return pushBenchImage(b, registry, i, img).String()
}

// pushBenchImage pushes img as registry/staging/bench:<i> and returns it pinned by digest.
func pushBenchImage(b *testing.B, registry string, i int, img v1.Image) name.Digest {
	b.Helper()
	tag, err := name.NewTag(fmt.Sprintf("%s/staging/bench:%d", registry, i))
	if err != nil {
		b.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		b.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		b.Fatal(err)
	}
	return tag.Context().Digest(d.String())
}

package cli

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/broker"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/attestor"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
)

// BenchmarkAttestPipeline measures attestations signed and recorded per second by the
// attestor and the ledger services alone, with their default settings, each on its own
// NATS connection as separate processes would be (embedded NATS with JetStream, the blob
// store, go-containerregistry's in-memory registry, the ledger's database and its
// transparency log), fed BuildCompleted events directly on the bus by eight concurrent
// publishers, so that scanning is not in the path: each
// event yields one SLSA provenance statement that the attestor signs, stores, attaches
// and announces, and that the ledger fetches, verifies, appends to its log and records.
// Counted from custody.attestation.recorded; compare with BenchmarkSignAndStore.
func BenchmarkAttestPipeline(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			_, store := st.open(b)
			dir := b.TempDir()
			brk, err := broker.Start(ctx, filepath.Join(dir, "nats"), broker.WithAddr("127.0.0.1:0"))
			if err != nil {
				b.Fatal(err)
			}
			defer brk.Shutdown(context.Background())
			nc, err := nats.Connect(brk.ClientURL())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			cfg := events.Config{Stream: "CUSTODY", Prefix: "custody"}
			bus, err := events.New(js, cfg, events.WithLogger(benchLogger()))
			if err != nil {
				b.Fatal(err)
			}
			if err := bus.EnsureStream(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := blob.Open(ctx, js, "CUSTODY_BLOBS"); err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")

			signer, trusted, err := devKeys(filepath.Join(dir, "keys"))
			if err != nil {
				b.Fatal(err)
			}
			verifier, err := verify.NewVerifier(trusted)
			if err != nil {
				b.Fatal(err)
			}
			logSigner, logKey, err := devLogKey(filepath.Join(dir, "keys"))
			if err != nil {
				b.Fatal(err)
			}
			// Each service has its own connection, as separate processes would.
			conn := func() (jetstream.JetStream, *blob.Store) {
				c, err := nats.Connect(brk.ClientURL())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(c.Close)
				j, err := jetstream.New(c)
				if err != nil {
					b.Fatal(err)
				}
				bs, err := blob.Open(ctx, j, "CUSTODY_BLOBS")
				if err != nil {
					b.Fatal(err)
				}
				return j, bs
			}
			ljs, lblobs := conn()
			lbus, _ := events.New(ljs, cfg, events.WithSource("custody/ledger"), events.WithLogger(benchLogger()))
			led, err := ledgersvc.New(lbus, lblobs, store, verifier, ledgersvc.WithLogger(benchLogger()),
				ledgersvc.WithLogSigner(logSigner, logKey), ledgersvc.WithConcurrency(benchWorkers(b, benchLedgerWorkersEnv, ledgersvc.DefaultConcurrency)))
			if err != nil {
				b.Fatal(err)
			}
			ajs, ablobs := conn()
			abus, _ := events.New(ajs, cfg, events.WithSource("custody/attestor"), events.WithLogger(benchLogger()))
			att, err := attestor.New(abus, ablobs, signer, attestor.WithLogger(benchLogger()),
				attestor.WithConcurrency(benchWorkers(b, benchAttestorWorkersEnv, attestor.DefaultConcurrency)))
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range []starter{led, att} {
				if err := s.Start(ctx); err != nil {
					b.Fatal(err)
				}
				defer s.Shutdown(context.Background())
			}

			builds := make([]*eventsv1.BuildCompleted, b.N)
			now := time.Now()
			for i := range builds {
				img, err := random.Image(256, 1)
				if err != nil {
					b.Fatal(err)
				}
				digest := pushBenchImage(b, host, i, img).DigestStr()
				builds[i] = &eventsv1.BuildCompleted{
					Image: host + "/staging/bench@" + digest, Digest: digest,
					SourceRepository: "https://git.example/bench", SourceRef: "refs/heads/main", Commit: fmt.Sprintf("%040x", i),
					BuilderId: "urn:custody:builder:dev", InvocationId: fmt.Sprintf("bench-%d", i),
					StartedAt: timestamppb.New(now.Add(-time.Minute)), FinishedAt: timestamppb.New(now),
				}
			}
			var mu sync.Mutex
			recorded := map[string]bool{}
			done := make(chan struct{})
			sub, err := nc.Subscribe("custody.attestation.recorded", func(m *nats.Msg) {
				var ev eventsv1.AttestationRecorded
				if proto.Unmarshal(m.Data, &ev) != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if !recorded[ev.GetDigest()] {
					recorded[ev.GetDigest()] = true
					if len(recorded) == b.N {
						close(done)
					}
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Unsubscribe()

			b.ResetTimer()
			stopProfile := benchProfile(b)
			start := time.Now()
			// Pipelines publish concurrently: 8 publishers, each waiting for its acks.
			var pubWG sync.WaitGroup
			pubErr := make(chan error, 8)
			for w := range 8 {
				pubWG.Add(1)
				go func() {
					defer pubWG.Done()
					for i := w; i < len(builds); i += 8 {
						build := builds[i]
						if _, err := bus.Publish(ctx, events.Event{Type: events.TypeBuildCompleted, Subject: build.Digest, Data: build}); err != nil {
							pubErr <- err
							return
						}
					}
				}()
			}
			pubWG.Wait()
			close(pubErr)
			if err := <-pubErr; err != nil {
				b.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(5*time.Minute + time.Duration(b.N)*100*time.Millisecond):
				mu.Lock()
				n := len(recorded)
				mu.Unlock()
				b.Fatalf("only %d of %d attestations recorded", n, b.N)
			}
			elapsed := time.Since(start)
			stopProfile()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "att/s")
		})
	}
}

// benchProfileEnv names a file to write a CPU profile of a benchmark's timed part to (the
// setup, such as pushing images, left out); each sub-benchmark appends its name.
const benchProfileEnv = "CUSTODY_BENCH_CPUPROFILE"

// benchProfile starts a CPU profile when CUSTODY_BENCH_CPUPROFILE is set and returns the
// function that stops it.
func benchProfile(b *testing.B) func() {
	path := os.Getenv(benchProfileEnv)
	if path == "" {
		return func() {}
	}
	path += "." + strings.NewReplacer("/", "_", " ", "_").Replace(b.Name())
	f, err := os.Create(path)
	if err != nil {
		b.Fatalf("%s: %v", benchProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		b.Fatalf("%s: %v", benchProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Errorf("%s: %v", benchProfileEnv, err)
		}
	}
}

// benchLogger shows warnings (retries, failures) on stderr: a run that retries is slow
// for a reason worth seeing.
func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// The services' concurrency in BenchmarkAttestPipeline: their defaults unless these
// say otherwise, to measure another setting against them.
const (
	benchLedgerWorkersEnv   = "CUSTODY_BENCH_LEDGER_WORKERS"
	benchAttestorWorkersEnv = "CUSTODY_BENCH_ATTESTOR_WORKERS"
)

// benchWorkers reads a worker count from the environment variable env, def when unset.
func benchWorkers(b *testing.B, env string, def int) int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: give a positive number of workers", env, v)
	}
	return n
}

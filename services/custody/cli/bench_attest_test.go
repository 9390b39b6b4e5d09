package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/postgres"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	"github.com/custody-dev/custody/pkg/signing"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// benchPostgresEnv names the PostgreSQL server the postgres sub-benchmarks use, as the
// ledger's store tests do; without it they skip.
const benchPostgresEnv = "CUSTODY_TEST_POSTGRES_DSN"

// benchStores are the ledger databases the attestation benchmarks compare. open returns
// the value for devConfig.db and the store itself; both live until the benchmark ends.
var benchStores = []struct {
	name string
	open func(b *testing.B) (db string, store ledger.Store)
}{
	{"sqlite", func(b *testing.B) (string, ledger.Store) {
		path := b.TempDir() + "/ledger.db"
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return path, s
	}},
	{"postgres", func(b *testing.B) (string, ledger.Store) {
		dsn, schema := benchSchema(b)
		s, err := postgres.Open(context.Background(), dsn, postgres.WithSchema(schema))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		u, err := url.Parse(dsn)
		if err != nil {
			b.Fatalf("%s: %v", benchPostgresEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema) // pgx passes unknown parameters to the server
		u.RawQuery = q.Encode()
		return u.String(), s
	}},
}

// benchSchema returns the PostgreSQL URL from the environment and the name of a fresh
// schema (custody_bench_<random>) that is dropped, with everything in it, after the
// benchmark. It skips when the variable is unset.
func benchSchema(b *testing.B) (dsn, schema string) {
	b.Helper()
	dsn = os.Getenv(benchPostgresEnv)
	if dsn == "" {
		b.Skipf("%s is not set: set it to a PostgreSQL URL (postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL benchmarks", benchPostgresEnv)
	}
	r := make([]byte, 8)
	_, _ = rand.Read(r)
	schema = "custody_bench_" + hex.EncodeToString(r)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return dsn, schema
}

// BenchmarkSignAndStore is the CPU ceiling of attesting: per op, one DSSE signature (the
// dev key) over a SLSA provenance statement and one PutAttestation write of a new record,
// on one goroutine. Statements are built before the timer starts. Reported as att/s; see
// docs/benchmarks.md.
func BenchmarkSignAndStore(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			_, store := st.open(b)
			signer, _, err := devKeys(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			stmts := make([][]byte, b.N)
			digests := make([]string, b.N)
			for i := range stmts {
				digests[i], stmts[i] = benchProvenance(b, i)
			}
			b.ResetTimer()
			start := time.Now()
			for i, stmt := range stmts {
				env, err := signer.Sign(ctx, signing.PayloadTypeInToto, stmt)
				if err != nil {
					b.Fatal(err)
				}
				sum := sha256.Sum256(env)
				envDigest := "sha256:" + hex.EncodeToString(sum[:])
				put, err := store.PutAttestation(ctx, ledger.PutAttestationRequest{Attestation: ledger.Attestation{
					EnvelopeDigest: envDigest, SubjectDigest: digests[i], Image: "registry.example/app@" + digests[i],
					PredicateType: attestation.PredicateSLSAProvenanceV1, KeyIDs: []string{signer.KeyID()},
					Envelope:   ledger.Blob{Digest: envDigest, MediaType: attestation.MediaTypeDSSE, Size: int64(len(env))},
					Attachment: "registry.example/app:sha256-" + digests[i][7:] + ".att", EventID: fmt.Sprintf("bench-%d", i),
					LogIndex: -1,
				}})
				if err != nil {
					b.Fatal(err)
				}
				if !put.Inserted {
					b.Fatalf("attestation %d was not new", i)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "att/s")
		})
	}
}

// benchProvenance returns a distinct subject digest and its SLSA provenance statement.
func benchProvenance(b *testing.B, i int) (digest string, stmt []byte) {
	sum := sha256.Sum256(fmt.Appendf(nil, "bench image %d", i))
	digest = "sha256:" + hex.EncodeToString(sum[:])
	now := time.Now()
	stmt, err := attestation.Provenance(&eventsv1.BuildCompleted{
		Image: "registry.example/app@" + digest, Digest: digest,
		SourceRepository: "https://git.example/bench", SourceRef: "refs/heads/main", Commit: fmt.Sprintf("%040x", i),
		BuilderId: "urn:custody:builder:dev", InvocationId: fmt.Sprintf("bench-%d", i),
		StartedAt: timestamppb.New(now.Add(-time.Minute)), FinishedAt: timestamppb.New(now),
	})
	if err != nil {
		b.Fatal(err)
	}
	return digest, stmt
}

// BenchmarkDevAttestationsRecorded measures attestations signed and recorded per second
// by `custody dev`, on each ledger database: the same flow as BenchmarkDevBuildToAttested
// (each build yields a provenance and an SBOM attestation, both signed by the attestor,
// attached, verified and recorded by the ledger), counted from custody.attestation.recorded
// events. Reported as att/s; compare with BenchmarkSignAndStore of the same run.
func BenchmarkDevAttestationsRecorded(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			db, store := st.open(b)
			// The stack opens the database itself; this handle only created the schema.
			_ = store.Close()
			if st.name == "sqlite" {
				db = "" // the stack's default: DATA/ledger.db
			}
			elapsed := benchDevBuilds(b, db)
			b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "att/s")
		})
	}
}

#!/usr/bin/env bash
# Runs Custody's benchmarks in one go, so that their ratios come from one run on one
# (possibly noisy, shared) machine, and prints the figures docs/benchmarks.md records.
#   BUILDS  build events per end-to-end run (default 100)
#   ATTESTATIONS  build events per attestor+ledger pipeline run (default 1000)
#   COUNT   repetitions of each benchmark, for benchstat (default 3)
#   CUSTODY_TEST_POSTGRES_DSN  a PostgreSQL URL; when set, the attestation benchmarks also
#           run against PostgreSQL (each in a schema of its own, dropped afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${BUILDS:-100} count=${COUNT:-3}
out=${OUT:-$(mktemp -d)/bench.txt}
{
  (cd pkg && go test -run '^$' -bench 'BenchmarkPublishConsume$' -benchtime 3000x -count "$count" ./events)
  (cd pkg && go test -run '^$' -bench 'BenchmarkScan$|BenchmarkScanParallel$' -benchtime 30x -count "$count" ./sbom)
  (cd services/custody && go test -run '^$' -bench 'BenchmarkDevBuildToAttested$' -benchtime "${builds}x" -count "$count" -timeout 60m ./cli)
  (cd services/custody && go test -run '^$' -bench 'BenchmarkSignAndStore/' -benchtime 1000x -count "$count" ./cli)
  (cd services/custody && go test -run '^$' -bench 'BenchmarkAttestPipeline/' -benchtime "${ATTESTATIONS:-1000}x" -count "$count" -timeout 60m ./cli)
  (cd services/custody && go test -run '^$' -bench 'BenchmarkDevAttestationsRecorded/' -benchtime "${builds}x" -count "$count" -timeout 60m ./cli)
} | tee "$out"
echo
if [ -x bin/benchstat ]; then bin/benchstat "$out" || true; fi
awk '
  /BenchmarkPublishConsume/ { for (i=1;i<=NF;i++) if ($(i+1)=="events/s") { bus+=$i; nb++ } }
  /BenchmarkScan\/one-shot/ { one+=$3; no++ }
  /BenchmarkScan\/cataloguer/ { cat+=$3; nc++ }
  /BenchmarkScanParallel/ { for (i=1;i<=NF;i++) if ($(i+1)=="scans/s") { par+=$i; np++ } }
  /BenchmarkDevBuildToAttested/ { for (i=1;i<=NF;i++) if ($(i+1)=="builds/s") { e2e+=$i; ne++ } }
  /BenchmarkSignAndStore\/|BenchmarkDevAttestationsRecorded\/|BenchmarkAttestPipeline\// {
    split($1, parts, "/"); db=parts[2]; sub(/-[0-9]+$/, "", db)
    for (i=1;i<=NF;i++) if ($(i+1)=="att/s") {
      if ($1 ~ /SignAndStore/) { ceil[db]+=$i; nceil[db]++ }
      else if ($1 ~ /AttestPipeline/) { pipe[db]+=$i; npipe[db]++ }
      else { att[db]+=$i; natt[db]++ }
    }
  }
  END {
    if (nb && no && nc && ne && np) {
      bus/=nb; one/=no; cat/=nc; e2e/=ne; ceiling=par/np
      printf "\nbus ceiling:                 %8.0f events/s\n", bus
      printf "one scan (cataloguer):       %8.1f ms   (one-shot %.1f ms: %.1fx)\n", cat/1e6, one/1e6, one/cat
      printf "scan ceiling (parallel):     %8.1f scans/s\n", ceiling
      printf "custody dev end to end:      %8.1f builds/s = %.0f%% of the scan ceiling\n", e2e, 100*e2e/ceiling
    }
    split("sqlite postgres", dbs, " ")
    for (k=1;k<=2;k++) {
      db=dbs[k]
      if (nceil[db] && natt[db]) {
        c=ceil[db]/nceil[db]; a=att[db]/natt[db]
        printf "sign+store ceiling (%s): %8.0f att/s\n", db, c
        printf "signed+recorded, custody dev (scanning in the path): %.1f att/s = %.1f%% of the sign+store ceiling (%s)\n", a, 100*a/c, db
        if (npipe[db]) { p=pipe[db]/npipe[db]; printf "signed+recorded, attestor+ledger: %.1f att/s = %.1f%% of the sign+store ceiling (%s)\n", p, 100*p/c, db }
      } else {
        printf "signed+recorded (%s): not measured%s\n", db, (db == "postgres" ? " (set CUSTODY_TEST_POSTGRES_DSN)" : "")
      }
    }
  }' "$out"
echo "raw results: $out"

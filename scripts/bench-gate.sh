#!/usr/bin/env bash
# The promotion gate's two figures (docs/benchmarks.md, "Promotion gate"), in one run:
#
#   (1) BenchmarkGateDecision: one decision about an image with three attestations
#       (gate.Decide, caches off) against its three DSSE verifications plus the evidence
#       lookup. Goal: at most 2x.
#   (2) TestBenchGateVersusCosign: decisions per second of the running gate, end to end
#       through the bus, against `cosign verify-attestation` (3 types per image) on the
#       same images and registry. Goal: at least 200x.
#
#   scripts/bench-gate.sh
#
# Environment:
#   BENCH_COUNT  repetitions of the benchmarks (default 6, what benchstat needs for a
#             confidence interval); COUNT repetitions of the cosign comparison (default 3)
#   IMAGES    images per gate run (default 40); REQUESTS promotion requests per image (10)
#   COSIGNS   which cosign binaries to compare with (default "v2 v3": bin/cosign-v2 and
#             bin/cosign-v3, built by `make cosign` when missing)
#   PROFILE   a directory: CPU profiles of both parts go there (gate-decision.prof,
#             gate-vs-cosign.prof, with the test binary cli.test to read them)
#   OUT       where the raw output goes (default a temp dir)
# Runs in about 3-4 minutes on a 2-core machine.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
count=${COUNT:-3} bench_count=${BENCH_COUNT:-6}
cosigns=${COSIGNS:-v2 v3}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

log() { printf '%s\n' "bench-gate: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $count =~ ^[1-9][0-9]*$ ]] || die "COUNT wants a positive number, got '$count'"
[[ $bench_count =~ ^[1-9][0-9]*$ ]] || die "BENCH_COUNT wants a positive number, got '$bench_count'"
for v in $cosigns; do
	case $v in v2 | v3) ;; *) die "COSIGNS: unknown cosign '$v' (want v2 and/or v3)" ;; esac
	if [ ! -x "bin/cosign-$v" ]; then
		log "bin/cosign-$v is missing: make cosign"
		make cosign >&2
	fi
done
if [ ! -x bin/benchstat ]; then
	log "bin/benchstat is missing: make tools"
	make tools >&2
fi

log "building the test binary"
(cd services/custody && go test -c -o "$out/cli.test" ./cli)
prof() { [ -n "${PROFILE:-}" ] && mkdir -p "$PROFILE" && echo "-test.cpuprofile=$(cd "$PROFILE" && pwd)/$1"; true; }
[ -n "${PROFILE:-}" ] && mkdir -p "$PROFILE" && cp "$out/cli.test" "$PROFILE/cli.test"

log "(1) BenchmarkGateDecision, count $bench_count"
# shellcheck disable=SC2046
(cd services/custody/cli && "$out/cli.test" -test.run '^$' -test.bench '^BenchmarkGateDecision$' \
	-test.count "$bench_count" $(prof gate-decision.prof)) | tee "$out/decision.txt"
echo
bin/benchstat "$out/decision.txt" || true

: >"$out/cosign.txt"
for v in $cosigns; do
	log "(2) gate against cosign $v, count $count"
	flags=
	# cosign v3 looks for Sigstore bundles (referrers) first; the in-memory registry has
	# none, so go to the .att layout directly, as the e2e tests do.
	[ "$v" = v3 ] && flags=--new-bundle-format=false
	# shellcheck disable=SC2046
	(cd services/custody/cli && CUSTODY_BENCH_COSIGN="$root/bin/cosign-$v" CUSTODY_BENCH_COSIGN_FLAGS="$flags" \
		CUSTODY_BENCH_GATE_IMAGES="${IMAGES:-40}" CUSTODY_BENCH_GATE_REQUESTS="${REQUESTS:-10}" \
		"$out/cli.test" -test.run '^TestBenchGateVersusCosign$' -test.v -test.count "$count" -test.timeout 30m \
		$( [ "$v" = v2 ] && prof gate-vs-cosign.prof)) >"$out/cosign-$v.txt" 2>&1 || true
	grep -E 'BENCH-GATE|decisions \(|cosign verify|^(--- |ok|FAIL|PASS)' "$out/cosign-$v.txt" || true
	if ! grep -q '^--- PASS: TestBenchGateVersusCosign' "$out/cosign-$v.txt" || grep -q '^--- FAIL' "$out/cosign-$v.txt"; then
		tail -n 30 "$out/cosign-$v.txt" >&2
		die "the comparison with cosign $v did not pass (output in $out/cosign-$v.txt)"
	fi
	cat "$out/cosign-$v.txt" >>"$out/cosign.txt"
done

echo
# (1) the median ns/op of each sub-benchmark, as benchstat reports it
awk '
	function median(s,   a, m, i, j, t) {
		m = split(s, a, " ")
		for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return m % 2 ? a[(m+1)/2] : (a[m/2] + a[m/2+1]) / 2
	}
	/^BenchmarkGateDecision\// { split($1, p, "/"); sub(/-[0-9]+$/, "", p[2]); v[p[2]] = v[p[2]] " " $3 }
	END {
		if (!("baseline" in v) || !("cold" in v)) { print "(1) not measured"; exit }
		for (k in v) ns[k] = median(v[k])
		b = ns["baseline"]
		printf "(1) gate decision, caches off:  %7.2f ms = %.2fx its 3 verifications + lookup (%.2f ms); goal <= 2x: %s\n", ns["cold"]/1e6, ns["cold"]/b, b/1e6, (ns["cold"]/b <= 2 ? "met" : "NOT met")
		if ("fetch" in v) printf "    lookup + 3 blob-store reads: %7.2f ms (breakdown)\n", ns["fetch"]/1e6
		if ("warm" in v)  printf "    decision cache hit:          %7.3f ms = %.3fx\n", ns["warm"]/1e6, ns["warm"]/b
		if ("vsa" in v)   printf "    VSA build + sign:            %7.3f ms\n", ns["vsa"]/1e6
		if ("sign" in v)  printf "    decision + VSA build + sign: %7.2f ms = %.2fx\n", ns["sign"]/1e6, ns["sign"]/b
	}' "$out/decision.txt"
# (2) the median of each BENCH-GATE figure over the runs, per cosign binary
grep -h 'BENCH-GATE' "$out/cosign.txt" | sed 's/.*BENCH-GATE //' | awk '
	function median(s,   a, m, i, j, t) {
		m = split(s, a, " ")
		for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return m % 2 ? a[(m+1)/2] : (a[m/2] + a[m/2+1]) / 2
	}
	{
		delete kv
		for (i = 1; i <= NF; i++) { split($i, f, "="); kv[f[1]] = f[2] }
		c = kv["cosign"]; if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
		for (k in kv) if (k != "cosign") vals[c, k] = vals[c, k] " " kv[k]
	}
	END {
		for (i = 1; i <= nc; i++) {
			c = order[i]
			printf "(2) against %s (%d images x %d requests, median of %d runs): cosign %.2f images/s\n", c, median(vals[c, "images"]), median(vals[c, "requests_per_image"]), split(vals[c, "images"], x, " "), median(vals[c, "cosign_images_per_s"])
			r = median(vals[c, "ratio_cold"])
			printf "    gate, caches off (headline): %6.1f decisions/s = %5.1fx; goal >= 200x: %s\n", median(vals[c, "gate_cold_decisions_per_s"]), r, (r >= 200 ? "met" : "NOT met")
			printf "    gate, caches on:             %6.1f decisions/s = %5.1fx\n", median(vals[c, "gate_warm_decisions_per_s"]), median(vals[c, "ratio_warm"])
			printf "    caches off, no VSA attach:   %6.1f decisions/s = %5.1fx (breakdown)\n", median(vals[c, "gate_cold_noattach_decisions_per_s"]), median(vals[c, "ratio_cold_noattach"])
		}
	}'
echo
log "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null), load $(cut -d' ' -f1-3 /proc/loadavg)"
log "raw output in $out"

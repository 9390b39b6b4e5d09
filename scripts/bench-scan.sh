#!/usr/bin/env bash
# Figure (2) of docs/benchmarks.md: `custody scan` against the pinned syft CLI on the same image,
# interleaved in one run (custody, syft, custody, syft, … N times each), then the package sets
# compared by purl. Prints a markdown section to paste into docs/benchmarks.md.
#
#   scripts/bench-scan.sh [-n N] [--tarball FILE | --ref REF] [--out DIR] [--insecure]
#
#   -n N          runs of each tool (default 5, or $BENCH_SCAN_RUNS)
#   --tarball F   a `docker save`/`crane pull` tarball (default .data/debian-image/image.tar,
#                 built by scripts/debian-image.sh); custody gets `scan --tarball F`, syft
#                 `docker-archive:F`
#   --ref REF     scan REF@sha256:… from its registry instead; custody gets `scan REF`, syft
#                 `registry:REF`
#   --insecure    plain HTTP to REF's registry (syft: SYFT_REGISTRY_INSECURE_USE_HTTP=true)
#   --out DIR     where each run's SBOM and timing go (default .data/bench-scan)
#
# Environment: CUSTODY (default bin/custody), SYFT (default bin/syft; `make scan-tools` builds
# it). SYFT_* variables in the environment reach syft, e.g. SYFT_FILE_METADATA_SELECTION=none
# to skip the file digests syft computes by default; the output names the ones that are set.
# If CUSTODY is missing or has no `scan` command, only syft runs and the output says so.
#
# Needs: GNU time at /usr/bin/time, jq.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_SCAN_RUNS:-5}
tarball='' ref='' insecure=0
out=$root/.data/bench-scan
custody=${CUSTODY:-$root/bin/custody}
syft=${SYFT:-$root/bin/syft}

log() { printf '%s\n' "bench-scan: $*" >&2; }
die() { log "error: $*"; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	-n) [ $# -ge 2 ] || die "-n needs a number"; runs=$2; shift ;;
	--tarball) [ $# -ge 2 ] || die "--tarball needs a file"; tarball=$2; shift ;;
	--ref) [ $# -ge 2 ] || die "--ref needs an image reference"; ref=$2; shift ;;
	--out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift ;;
	--insecure) insecure=1 ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0" >&2; exit 0 ;;
	*) die "unknown argument $1 (see $0 --help)" ;;
	esac
	shift
done

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive number, got '$runs'"
[ -n "$tarball" ] && [ -n "$ref" ] && die "give --tarball or --ref, not both"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is missing: apt-get install time"
command -v jq >/dev/null || die "jq is missing: apt-get install jq"
[ -x "$syft" ] || die "$syft not found: run 'make scan-tools' (or set SYFT)"
if [ -z "$ref" ]; then
	tarball=${tarball:-$root/.data/debian-image/image.tar}
	[ -s "$tarball" ] || die "$tarball not found: run 'make debian-image' (scripts/debian-image.sh) or pass --tarball FILE"
	tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
fi

with_custody=1 custody_note=
if [ ! -x "$custody" ]; then
	with_custody=0 custody_note="$custody not found (run 'make build')"
elif ! "$custody" scan --help >/dev/null 2>&1; then
	with_custody=0 custody_note="$custody has no working 'scan' command"
fi
[ "$with_custody" = 1 ] || log "custody is left out: $custody_note"

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.cdx.json "$out"/*.time "$out"/*.err

# syft stays offline: no update check, no enrichment from package registries.
export SYFT_CHECK_FOR_APP_UPDATE=false SYFT_ENRICH=${SYFT_ENRICH:-}
if [ -n "$ref" ]; then
	custody_cmd=("$custody" scan "$ref" -o cyclonedx-json)
	syft_cmd=("$syft" -q "registry:$ref" -o cyclonedx-json)
	[ "$insecure" = 1 ] && export SYFT_REGISTRY_INSECURE_USE_HTTP=true
	source_desc="\`$ref\`"
else
	custody_cmd=("$custody" scan --tarball "$tarball" -o cyclonedx-json)
	syft_cmd=("$syft" -q "docker-archive:$tarball" -o cyclonedx-json)
	image_id=$(tar -xOf "$tarball" manifest.json 2>/dev/null | jq -r '.[0].Config // empty' 2>/dev/null || true)
	source_desc="tarball \`$(basename "$tarball")\`${image_id:+ (image ID \`${image_id:0:19}\`)}"
fi

# run TOOL I CMD...: one timed run; SBOM to $out/TOOL-I.cdx.json, "wall user sys maxrss_kb" to .time.
run() {
	local tool=$1 i=$2
	shift 2
	if ! /usr/bin/time -f '%e %U %S %M' -o "$out/$tool-$i.time" "$@" >"$out/$tool-$i.cdx.json" 2>"$out/$tool-$i.err"; then
		tail -n 20 "$out/$tool-$i.err" >&2
		die "$tool run $i failed: $* (stderr in $out/$tool-$i.err)"
	fi
}

tools=(syft)
[ "$with_custody" = 1 ] && tools=(custody syft)
for i in $(seq "$runs"); do
	for tool in "${tools[@]}"; do
		log "run $i/$runs: $tool"
		if [ "$tool" = custody ]; then run custody "$i" "${custody_cmd[@]}"; else run syft "$i" "${syft_cmd[@]}"; fi
	done
done

# purls TOOL I: the sorted, de-duplicated purls of one SBOM (CycloneDX, nested components too,
# or SPDX), without qualifiers and subpath and with %3A/%2B/%7E decoded, so that two tools that
# spell the same package differently still match.
# With a third argument "full", the purls as written.
purls() {
	jq -r --arg full "${3:-}" '
		[ (.components[]? | recurse(.components[]?) | .purl // empty),
		  (.packages[]?.externalRefs[]? | select(.referenceType == "purl") | .referenceLocator) ]
		| .[] | if $full == "full" then . else
			sub("#.*$"; "") | sub("\\?.*$"; "")
			| gsub("%3[Aa]"; ":") | gsub("%2[Bb]"; "+") | gsub("%7[Ee]"; "~") end
	' "$out/$1-$2.cdx.json" | LC_ALL=C sort -u
}

# stats TOOL: median wall, min wall, max wall, median cpu (user+sys), max RSS in MB.
stats() {
	local tool=$1
	cat "$out/$tool"-*.time | awk '
		{ wall[NR] = $1; cpu[NR] = $2 + $3; if ($4 > rss) rss = $4 }
		function median(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			n = NR; min = wall[1]; max = wall[1]
			for (i = 1; i <= n; i++) { if (wall[i] < min) min = wall[i]; if (wall[i] > max) max = wall[i] }
			printf "%.2f %.2f %.2f %.2f %.0f\n", median(wall, n), min, max, median(cpu, n), rss / 1024
		}'
}

# Every run of a tool must find the same packages; otherwise the comparison means little.
for tool in "${tools[@]}"; do
	purls "$tool" 1 >"$out/$tool.purls"
	purls "$tool" 1 full >"$out/$tool.full-purls"
	for i in $(seq 2 "$runs"); do
		purls "$tool" "$i" | cmp -s - "$out/$tool.purls" || log "warning: $tool run $i found a different package set than run 1"
	done
done

syft_version=$("$syft" version 2>/dev/null | awk '$1 == "Version:" { print $2 }')
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
syft_vars=$(env | grep -E '^SYFT_' | grep -vE '^SYFT_(CHECK_FOR_APP_UPDATE|ENRICH)=' | cut -d= -f1 | LC_ALL=C sort | paste -sd, - || true)

echo "### custody scan vs syft on the Debian image"
echo
echo "Source: $source_desc. $runs runs of each, interleaved, on $(nproc) CPUs${cpu_model:+ ($cpu_model)}."
echo "syft ${syft_version:-(version unknown)}, CycloneDX JSON to a file, offline${syft_vars:+, with $syft_vars set}."
[ "$with_custody" = 1 ] || echo "custody was not measured: $custody_note."
echo
echo "| tool | wall median (s) | wall min–max (s) | CPU median (s) | max RSS (MB) | packages (purls) |"
echo "|---|---:|---:|---:|---:|---:|"
for tool in "${tools[@]}"; do
	read -r med min max cpu rss < <(stats "$tool")
	printf '| %s | %s | %s–%s | %s | %s | %s |\n' "$tool" "$med" "$min" "$max" "$cpu" "$rss" "$(wc -l <"$out/$tool.purls")"
done

# by_type TOOL: "deb 88, golang 3" — how many purls of each type.
by_type() {
	sed 's,^pkg:,,; s,/.*,,' "$out/$1.purls" | LC_ALL=C sort | uniq -c | sort -rn | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }'
}
echo
for tool in "${tools[@]}"; do
	echo "purl types, $tool: $(by_type "$tool")."
done

if [ "$with_custody" = 1 ]; then
	LC_ALL=C comm -12 "$out/custody.purls" "$out/syft.purls" >"$out/both.purls"
	LC_ALL=C comm -23 "$out/custody.purls" "$out/syft.purls" >"$out/only-custody.purls"
	LC_ALL=C comm -13 "$out/custody.purls" "$out/syft.purls" >"$out/only-syft.purls"
	echo
	echo "Package sets by purl (qualifiers dropped): $(wc -l <"$out/both.purls") in both," \
		"$(wc -l <"$out/only-custody.purls") only custody, $(wc -l <"$out/only-syft.purls") only syft;" \
		"$(LC_ALL=C comm -12 "$out/custody.full-purls" "$out/syft.full-purls" | wc -l) identical with qualifiers."
	for side in only-syft only-custody; do
		n=$(wc -l <"$out/$side.purls")
		[ "$n" -gt 0 ] || continue
		echo
		echo "<details><summary>${side/-/ } ($n)</summary>"
		echo
		bt='`'
		head -n 100 "$out/$side.purls" | sed "s/^/- $bt/; s/\$/$bt/"
		[ "$n" -le 100 ] || echo "- … $((n - 100)) more in $out/$side.purls"
		echo
		echo "</details>"
	done
fi
log "SBOMs, timings and purl lists are in $out"

#!/usr/bin/env bash
# Build a real Debian minbase image with debootstrap, from Debian's own packages, push it to a
# registry and leave a `docker save`-style tarball for benchmarks that run without a registry.
#
#   scripts/debian-image.sh [--force] [--insecure] [--no-push] [--out DIR] [REF]
#
#   REF         where to push (default $DEBIAN_IMAGE_REF, else 127.0.0.1:5000/debian:bookworm-minbase,
#               the `custody dev` registry). With --no-push a throwaway `crane registry serve` on a
#               free loopback port is used instead, so only the tarball is produced.
#   --force     rebuild the cached rootfs (otherwise a second run reuses it and takes seconds)
#   --insecure  plain HTTP to REF's registry (loopback registries are plain HTTP without it)
#   --out DIR   output and cache directory (default $DEBIAN_IMAGE_DIR, else .data/debian-image)
#
# Environment: DEBIAN_MIRROR (a Debian archive URI; default: the first Debian `deb` source of
# this machine's apt configuration), DEBIAN_SUITE (default bookworm), DEBIAN_ARCH (default the
# host's dpkg architecture), SOURCE_DATE_EPOCH (mtime of every file in the layer, default 0),
# CRANE (default bin/crane; `make scan-tools` builds it).
#
# Outputs in DIR: rootfs-SUITE-minbase-ARCH.tar (the single layer, cached), image.tar (readable
# by go-containerregistry's tarball.ImageFromPath, `custody scan --tarball`, and
# `syft docker-archive:`), image.ref (the pushed REF@sha256:…). The pushed REF@sha256:… is the
# last line on stdout; progress goes to stderr.
#
# Needs: root (debootstrap chroots and mounts /proc), debootstrap, GNU tar, network access to
# the mirror. Never write a mirror's or registry's hostname into the repository: both are read
# at run time.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=${DEBIAN_SUITE:-bookworm}
ref=${DEBIAN_IMAGE_REF:-127.0.0.1:5000/debian:${suite}-minbase}
out=${DEBIAN_IMAGE_DIR:-$root/.data/debian-image}
crane=${CRANE:-$root/bin/crane}
epoch=${SOURCE_DATE_EPOCH:-0}
force=0 insecure=() push=1
args=("$@")

log() { printf '%s\n' "debian-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--insecure) insecure=(--insecure) ;;
	--no-push) push=0 ;;
	--out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift ;;
	--out=*) out=${1#--out=} ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0" >&2; exit 0 ;;
	-*) die "unknown flag $1 (see $0 --help)" ;;
	*) ref=$1 ;;
	esac
	shift
done

case $ref in *@*) die "REF must be a tag reference (REPO:TAG or REPO), not a digest: $ref" ;; esac

# debian_mirror prints the Debian archive URI to bootstrap from: $DEBIAN_MIRROR, else the first
# `deb` source in this machine's apt configuration whose suites include $suite, else the first
# one whose URI ends in /debian. Security and third-party archives are skipped.
debian_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then
		printf '%s\n' "$DEBIAN_MIRROR"
		return
	fi
	local files=() f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -gt 0 ] || return 1
	# Emit "URI SUITE" pairs for every deb source, one-line (.list) and deb822 (.sources) alike.
	awk '
		FILENAME ~ /\.sources$/ {
			if ($0 ~ /^[ \t]*$/) { flush(); next }
			if ($0 ~ /^[ \t]*#/) next
			key = tolower($1)
			if (key == "types:") { types = $0 }
			else if (key == "uris:") { uris = $0; sub(/^[^:]*:[ \t]*/, "", uris) }
			else if (key == "suites:") { suites = $0; sub(/^[^:]*:[ \t]*/, "", suites) }
			next
		}
		FNR == 1 { flush() }
		/^[ \t]*deb[ \t]/ {
			i = 2
			if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			print $i, $(i + 1)
		}
		function flush(   n, m, u, s, a, b) {
			if (types ~ /(^|[ \t:])deb([ \t]|$)/ && uris != "") {
				n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
				for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print u[a], s[b]
			}
			types = uris = suites = ""
		}
		END { flush() }
	' "${files[@]}" | awk -v suite="$suite" '
		$1 ~ /security/ { next }
		$2 == suite && !exact { exact = $1 }
		$1 ~ /\/debian\/?$/ && !any { any = $1 }
		END { if (exact) print exact; else if (any) print any; else exit 1 }
	'
}

tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed (apt-get install tar)"
[ -x "$crane" ] || die "$crane not found: run 'make scan-tools' (or set CRANE to a crane binary)"

arch=${DEBIAN_ARCH:-$(dpkg --print-architecture 2>/dev/null || true)}
if [ -z "$arch" ]; then
	case $(uname -m) in
	x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) die "cannot tell the Debian architecture: set DEBIAN_ARCH" ;;
	esac
fi
case $arch in
amd64 | arm64 | s390x | ppc64el | riscv64) platform=linux/$arch ;;
armhf) platform=linux/arm/v7 ;; armel) platform=linux/arm/v5 ;; i386) platform=linux/386 ;;
*) platform=linux/$arch ;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
layer=$out/rootfs-$suite-minbase-$arch.tar

tmp=$(mktemp -d "${TMPDIR:-/tmp}/debian-image.XXXXXX")
registry_pid=
cleanup() {
	local rc=$? m
	set +e
	if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null; fi
	# debootstrap mounts /proc and /sys inside the target; never rm -rf across a mount.
	if command -v findmnt >/dev/null; then
		findmnt -rn -o TARGET | grep -F "$tmp/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	fi
	rm -f "$layer.partial" "$out/image.tar.partial"
	rm -rf --one-file-system "$tmp" 2>/dev/null || log "could not remove $tmp entirely; remove it by hand"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$force" = 1 ] || [ ! -s "$layer" ]; then
	[ "$(id -u)" = 0 ] || die "debootstrap needs root (it chroots and mounts /proc): run this script as root, e.g. 'sudo $0 ${args[*]}'"
	if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
		command -v apt-get >/dev/null || die "debootstrap is missing: install the 'debootstrap' package"
		log "installing debootstrap with apt-get"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2; } ||
			die "could not install debootstrap: run 'apt-get install debootstrap'"
	fi
	PATH=$PATH:/usr/sbin:/sbin
	mirror=$(debian_mirror) || die "no Debian mirror: set DEBIAN_MIRROR to a Debian archive URI, or add a Debian 'deb' source to /etc/apt/sources.list(.d)"
	keyring=()
	[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)

	rootfs=$tmp/rootfs
	log "debootstrap --variant=minbase --arch=$arch $suite (mirror from ${DEBIAN_MIRROR:+DEBIAN_MIRROR}${DEBIAN_MIRROR:-apt sources}); this takes a few minutes"
	start=$SECONDS
	debootstrap --variant=minbase --arch="$arch" "${keyring[@]}" "$suite" "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
		tail -n 30 "$tmp/debootstrap.log" >&2
		[ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	}
	log "debootstrap took $((SECONDS - start))s"
	findmnt -rn -o TARGET 2>/dev/null | grep -qF "$rootfs/" && die "something is still mounted under $rootfs; not packing it"

	# What a container image does not carry: package caches and lists, device nodes, logs of the
	# build, and the host's identity files that debootstrap copies in. ldconfig's aux-cache holds
	# inode numbers and ctimes; without it two builds from the same mirror state are byte-identical.
	rm -rf --one-file-system "${rootfs:?}"/var/cache/apt/archives/*.deb "${rootfs:?}"/var/cache/apt/*.bin "${rootfs:?}"/var/lib/apt/lists/* \
		"${rootfs:?}"/var/cache/ldconfig/aux-cache \
		"${rootfs:?}"/var/log/* "${rootfs:?}"/dev/* "${rootfs:?}"/proc/* "${rootfs:?}"/sys/* "${rootfs:?}"/tmp/* "${rootfs:?}"/run/*
	mkdir -p "$rootfs/var/lib/apt/lists/partial"
	: >"$rootfs/etc/hostname"
	: >"$rootfs/etc/resolv.conf"
	[ -e "$rootfs/etc/machine-id" ] && : >"$rootfs/etc/machine-id"

	# One layer: numeric owners, sorted names, one mtime, no "./" prefix.
	mapfile -t top < <(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort)
	tar -C "$rootfs" --format=gnu --numeric-owner --sort=name --mtime="@$epoch" -cf "$layer.partial" -- "${top[@]}"
	mv "$layer.partial" "$layer"
	log "rootfs layer: $layer ($(du -h "$layer" | cut -f1))"
else
	log "reusing cached rootfs layer $layer (--force rebuilds it)"
fi

# Push: to REF, or to a throwaway loopback registry with --no-push.
if [ "$push" = 0 ]; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
	"$crane" registry serve --address "127.0.0.1:$port" >"$tmp/registry.log" 2>&1 &
	registry_pid=$!
	ref=127.0.0.1:$port/debian:$suite-minbase
	for _ in $(seq 50); do "$crane" catalog "127.0.0.1:$port" >/dev/null 2>&1 && break; sleep 0.1; done
fi
repo=$ref
case ${ref##*/} in *:*) repo=${ref%:*} ;; *) ref=$ref:$suite-minbase ;; esac

log "pushing to $ref"
"$crane" "${insecure[@]}" append --oci-empty-base -f "$layer" -t "$ref" >/dev/null 2>"$tmp/crane.log" || {
	cat "$tmp/crane.log" >&2
	die "could not push to $ref: is the registry running ('bin/custody dev', or 'bin/crane registry serve --address HOST:PORT')? Use --insecure for a plain-HTTP registry that is not on loopback, or --no-push for the tarball only"
}
pinned=$("$crane" "${insecure[@]}" mutate "$ref" --set-platform "$platform" -e PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--cmd bash -l org.opencontainers.image.title="debian $suite minbase (debootstrap)" -t "$ref" 2>"$tmp/crane.log") || {
	cat "$tmp/crane.log" >&2
	die "could not set the image config on $ref"
}
case $pinned in *@sha256:*) ;; *) pinned=$ref@$("$crane" "${insecure[@]}" digest "$ref") ;; esac
pinned=$repo@${pinned##*@}

"$crane" "${insecure[@]}" pull --format tarball "$ref" "$out/image.tar.partial"
mv "$out/image.tar.partial" "$out/image.tar"
if [ "$push" = 1 ]; then printf '%s\n' "$pinned" >"$out/image.ref"; else rm -f "$out/image.ref"; fi
log "docker-save tarball: $out/image.tar"
[ "$push" = 1 ] || log "(--no-push: the digest below was served by a throwaway registry that is gone now)"
printf '%s\n' "$pinned"

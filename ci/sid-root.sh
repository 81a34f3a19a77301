#!/usr/bin/env bash
# Debian sid for the compatibility guests: its own, unpatched rdma-core on
# this project's kernel.
#
#   ci/sid-root.sh root      build/sid-root: a sid root filesystem (mmdebstrap)
#                            with sid's rdma-core, perftest, pyverbs and what
#                            tests/run.sh needs, and /rdmadma-init
#   ci/sid-root.sh source    build/rdma-core-sid: sid's rdma-core source
#                            (upstream's tests/ and text), SHA256-verified
#   ci/sid-root.sh all       both (default)
#
# Only Debian's packages, through a private apt configuration under
# build/apt-sid (deb and deb-src entries for sid on the mirror this
# machine's apt sources name, indexes verified against the archive keyring;
# sid's Valid-Until is not enforced, since a snapshot mirror serves a
# Release past it).
# The machine's own apt sources are only read, never changed, and nothing is
# installed on the host. Rebuilt only when this script or the package list
# changed; SID_REFRESH=1 builds it again (sid moves).
. "$(dirname "$0")/lib.sh"

SUITE=sid
APTDIR=$BUILD/apt-sid
ROOT=$BUILD/sid-root
SRC=$BUILD/rdma-core-sid
DL=$BUILD/downloads
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What the guest runs: sid's verbs userspace and perftest, pyverbs for
# upstream's tests, and what tests/run.sh and guest-init.sh call.
PKGS=(
	rdma-core ibverbs-providers ibverbs-utils rdmacm-utils perftest
	python3-pyverbs iproute2 busybox-static
	bash coreutils util-linux mount procps kmod grep sed gawk findutils
	python3
)

private_apt() {
	local uri
	uri=$(mirror_uri)
	[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; cannot derive sid entries"
	[ -r "$KEYRING" ] || die "$KEYRING missing (package debian-archive-keyring)"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/sources.list.d" "$DL"
	MIRROR=$uri
	cat >"$APTDIR/sources.list" <<-EOF
		deb [signed-by=$KEYRING] $uri $SUITE main
		deb-src [signed-by=$KEYRING] $uri $SUITE main
	EOF
	write_apt_conf "$APTDIR" 'Dir::State::status "'"$APTDIR"'/status";' 'Acquire::Check-Valid-Until "false";'
	: >>"$APTDIR/status"
	export APT_CONFIG=$APTDIR/apt.conf
	log "private apt: deb, deb-src $uri $SUITE main"
	# apt-get update fails on an index whose signature does not verify.
	apt-get -q update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update with the private $SUITE entries failed; see $APTDIR/update.log"
}

# The verified Sources index, uncompressed.
sources_index() {
	local idx
	for idx in "$APTDIR"/lists/*_${SUITE}_main_source_Sources*; do
		case "$idx" in *.lz4) lz4cat "$idx" ;; *.xz) xzcat "$idx" ;; *.gz) zcat "$idx" ;; *) cat "$idx" ;; esac
	done
}

fetch_source() {
	local ver up tb sha
	# awk reads to the end: an early exit would make the reader fail (pipefail).
	ver=$(sources_index | awk '/^Package: /{pkg=$2} /^Version: /{ if (pkg=="rdma-core" && v=="") v=$2 } END {print v}')
	[ -n "$ver" ] || die "rdma-core is not in the $SUITE Sources index"
	up=${ver%-*}
	up=${up#*:}
	tb=rdma-core_$up.orig.tar.gz
	if [ -d "$SRC" ] && [ "$(cat "$SRC/.sid-version" 2>/dev/null)" = "$ver" ]; then
		log "$SRC is rdma-core $ver already"
		return 0
	fi
	sha=$(sources_index | awk -v tb="$tb" '
		/^Package: /{pkg=$2; insha=0}
		/^Checksums-Sha256:/{insha=1; next}
		/^[^ ]/{insha=0}
		insha && pkg=="rdma-core" && $3==tb && s=="" {s=$1}
		END {print s}')
	[ -n "$sha" ] || die "$tb is not in the $SUITE Sources index"
	log "$SUITE rdma-core $ver, $tb sha256 $sha"
	if ! { [ -f "$DL/$tb" ] && echo "$sha  $DL/$tb" | sha256sum -c --quiet - 2>/dev/null; }; then
		(cd "$DL" && apt-get -q source --download-only "rdma-core=$ver" >"$APTDIR/source.log" 2>&1) ||
			log "apt-get source reported an error; checking the tarball (see $APTDIR/source.log)"
		[ -f "$DL/$tb" ] || die "$tb did not arrive; see $APTDIR/source.log"
		echo "$sha  $DL/$tb" | sha256sum -c --quiet - ||
			{ mv "$DL/$tb" "$DL/$tb.bad"; die "$tb does not match the SHA256 in the Sources index (kept as $tb.bad)"; }
	fi
	rm -rf "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -C "$SRC.tmp" --strip-components=1 -xzf "$DL/$tb"
	echo "$ver" >"$SRC.tmp/.sid-version"
	rm -rf "$SRC"
	mv "$SRC.tmp" "$SRC"
	log "rdma-core $ver source in $SRC"
}

root_key() {
	{ cat "$0" "$TOP/tests/vm/rdmadma-init"; printf '%s\n' "${PKGS[@]}"; } | sha256sum | cut -d' ' -f1
}

build_root() {
	local key
	key=$(root_key)
	if [ "${SID_REFRESH:-0}" != 1 ] && [ -x "$ROOT/rdmadma-init" ] &&
		[ "$(cat "$BUILD/sid-root.key" 2>/dev/null)" = "$key" ]; then
		log "$ROOT is up to date (SID_REFRESH=1 builds it again)"
		return 0
	fi
	need_cmd mmdebstrap
	rm -rf "$ROOT.tmp" "$BUILD/sid-root.key"
	log "mmdebstrap $SUITE into $ROOT (${#PKGS[@]} packages and their dependencies)"
	# The mirror entry carries signed-by, so the indexes are verified against
	# the archive keyring; the guest root gets no apt sources of its own.
	# /usr/lib/modules: guest-init mounts the test kernel's modules there.
	# Check-Valid-Until off: a mirror that is a snapshot serves a sid
	# Release whose Valid-Until has passed. The signature is still checked.
	mmdebstrap --variant=minbase --mode=root --format=directory \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--include="$(IFS=,; echo "${PKGS[*]}")" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/doc/*/tests/*' \
		--customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*' \
		--customize-hook='mkdir -p "$1"/usr/lib/modules' \
		"$SUITE" "$ROOT.tmp" "deb [signed-by=$KEYRING] $MIRROR $SUITE main" \
		>"$BUILD/sid-root.log" 2>&1 || die "mmdebstrap failed; see $BUILD/sid-root.log"
	install -m 0755 "$TOP/tests/vm/rdmadma-init" "$ROOT.tmp/rdmadma-init"
	chroot "$ROOT.tmp" dpkg-query -W -f='${Package} ${Version}\n' >"$ROOT.tmp/rdmadma-packages.txt"
	rm -rf "$ROOT"
	mv "$ROOT.tmp" "$ROOT"
	echo "$key" >"$BUILD/sid-root.key"
	log "$ROOT ready ($(du -sh "$ROOT" | cut -f1)): $(grep -E '^(rdma-core|perftest|python3-pyverbs|libibverbs1) ' "$ROOT/rdmadma-packages.txt" | tr '\n' ' ')"
}

action=${1:-all}
case $action in
root) private_apt; build_root ;;
source) private_apt; fetch_source ;;
all) private_apt; fetch_source; build_root ;;
*) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Fetch rdma-core 56.1 (Debian trixie) through a private apt configuration,
# verify it against the SHA256 in the Sources index, and prepare
# build/rdma-core: a git tree of the pristine tarball (tag 'pristine') with
# rdma-core-patches/series applied by git am.
#
# The machine's own apt sources are only read (for the mirror URI), never
# changed: everything apt writes lives under build/apt.
. "$(dirname "$0")/lib.sh"

TARBALL=rdma-core_$RDMA_CORE_VER.orig.tar.gz
APTDIR=$BUILD/apt
DL=$BUILD/downloads
need_cmd apt-get git tar sha256sum awk

fetch_tarball() {
	local uri keyring ver sha
	[ -f "$DL/$TARBALL.verified" ] && [ -f "$DL/$TARBALL" ] && return 0
	uri=$(mirror_uri)
	[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; cannot derive a trixie deb-src entry"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -r "$keyring" ] || die "$keyring missing (package debian-archive-keyring)"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/sources.list.d" "$DL"
	echo "deb-src [signed-by=$keyring] $uri trixie main" >"$APTDIR/sources.list"
	write_apt_conf "$APTDIR"
	export APT_CONFIG=$APTDIR/apt.conf
	log "private apt: deb-src $uri trixie main"
	apt-get -q update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update with the private trixie deb-src entry failed; see $APTDIR/update.log"

	# Version and SHA256 of the orig tarball from the (signed) Sources index.
	read -r ver sha < <(
		for idx in "$APTDIR"/lists/*_trixie_main_source_Sources*; do
			case "$idx" in *.lz4) lz4cat "$idx" ;; *.xz) xzcat "$idx" ;; *.gz) zcat "$idx" ;; *) cat "$idx" ;; esac
		done | awk -v tb="$TARBALL" '
			/^Package: /{pkg=$2; ver=""; insha=0}
			/^Version: /{ver=$2}
			/^Checksums-Sha256:/{insha=1; next}
			/^[^ ]/{insha=0}
			insha && pkg=="rdma-core" && $3==tb {print ver, $1; exit}'
	) || true
	[ -n "${sha:-}" ] || die "rdma-core $RDMA_CORE_VER ($TARBALL) is not in the trixie Sources index"
	case "$ver" in "$RDMA_CORE_VER"-*) ;; *) die "trixie has rdma-core $ver, expected $RDMA_CORE_VER-*" ;; esac
	log "trixie rdma-core $ver, $TARBALL sha256 $sha"

	# The .dsc of this version is not served, so apt-get source complains
	# even though the orig tarball arrives; the checksum below is what counts.
	(cd "$DL" && apt-get -q source --download-only "rdma-core=$ver" >"$APTDIR/source.log" 2>&1) ||
		log "apt-get source reported an error (expected: the .dsc is not served); checking the tarball"
	[ -f "$DL/$TARBALL" ] || die "$TARBALL did not arrive; see $APTDIR/source.log"
	echo "$sha  $DL/$TARBALL" | sha256sum -c --quiet - ||
		{ mv "$DL/$TARBALL" "$DL/$TARBALL.bad"; die "$TARBALL does not match the SHA256 in the Sources index (kept as $TARBALL.bad)"; }
	echo "$sha" >"$DL/$TARBALL.verified"
	log "$TARBALL verified"
}

fetch_tarball

if [ ! -d "$RDMA_SRC/.git" ]; then
	log "unpacking $TARBALL into $RDMA_SRC"
	rm -rf "$RDMA_SRC.tmp"
	mkdir -p "$RDMA_SRC.tmp"
	tar -C "$RDMA_SRC.tmp" --strip-components=1 -xzf "$DL/$TARBALL"
	git -C "$RDMA_SRC.tmp" init -q
	git -C "$RDMA_SRC.tmp" add -A -f .
	git -C "$RDMA_SRC.tmp" -c user.name=rdma-dma-ci -c user.email=ci@localhost \
		commit -q -m "rdma-core $RDMA_CORE_VER (Debian orig tarball, pristine)"
	git -C "$RDMA_SRC.tmp" tag pristine
	mv "$RDMA_SRC.tmp" "$RDMA_SRC"
fi

exec "$TOP/ci/series.sh" apply rdma-core

#!/usr/bin/env bash
# Make build/arm64-root: a Debian 12 (bookworm) arm64 root filesystem for
# the arm64 guests (tests/vm/run-vm.sh --arch arm64 --root ...), made from
# Debian's arm64 packages only, through a private apt configuration under
# build/apt-arm64 whose entries name the mirror of this machine's own apt
# sources (which are only read).
#
#   ci/arm64-root.sh [--force]
#
# The packages are unpacked with mmdebstrap --variant=extract: no arm64
# binary runs on the host, so neither binfmt_misc nor qemu-user is needed
# (neither is available in every container). What the maintainer scripts
# would have done and the guest needs is done here: /etc/passwd and
# /etc/group from base-passwd, the awk alternative, mount points (/lib/modules
# among them: guest-init puts the kernel's modules there), and (when
# qemu-aarch64-static is installed) /etc/ld.so.cache by running the static
# arm64 ldconfig under qemu-user directly. The same tree is the sysroot the
# arm64 rdma-core and test programs are cross-compiled against (the -dev
# packages below).
#
# Idempotent: the tree is rebuilt only when the package list or this script
# changed (--force rebuilds it); /rdmadma-init (tests/vm/rdmadma-init) and
# the mount point for the project's own path are refreshed on every run.
. "$(dirname "$0")/lib.sh"

ROOT=${ARM64_ROOT:-$BUILD/arm64-root}
APTDIR=$BUILD/apt-arm64
SUITE=bookworm
force=0
case "${1:-}" in
'') ;;
--force) force=1 ;;
-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown argument '$1' (try --help)" ;;
esac

PKGS=(
	# what mmdebstrap's essential set would bring, and guest-init needs
	base-files base-passwd bash coreutils dash mawk grep sed findutils gzip
	tar hostname libc-bin diffutils busybox-static util-linux mount procps kmod
	# the network and the verbs userspace the tests use
	iproute2 rdma-core libibverbs1 ibverbs-providers librdmacm1
	ibverbs-utils rdmacm-utils perftest
	# the sysroot for cross-compiling rdma-core and tests/ against it
	libc6-dev linux-libc-dev libnl-3-dev libnl-route-3-dev libudev-dev
)

need_cmd mmdebstrap apt-get apt-cache sha256sum

# install_init: the parts that follow the project rather than the packages
# (tests/vm/run-vm.sh makes the mount point guest-init binds the project on).
install_init() {
	install -m 0755 "$TOP/tests/vm/rdmadma-init" "$ROOT/rdmadma-init"
}

want=$( { cat "$0"; printf '%s\n' "${PKGS[@]}"; } | sha256sum | cut -d' ' -f1)
if [ $force -eq 0 ] && [ -d "$ROOT" ] && [ "$(cat "$ROOT/.rdmadma-root" 2>/dev/null)" = "$want" ]; then
	install_init
	log "arm64 root filesystem up to date: $ROOT"
	exit 0
fi

uri=$(mirror_uri)
[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; cannot derive the arm64 $SUITE entries"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring missing (package debian-archive-keyring)"

# The private apt configuration: arm64 only, its own lists, cache and an
# empty dpkg status, so that nothing of the host's apt or dpkg state is used
# or changed.
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/sources.list.d"
cat >"$APTDIR/sources.list" <<-EOF
	deb [arch=arm64 signed-by=$keyring] $uri $SUITE main
	deb [arch=arm64 signed-by=$keyring] $uri $SUITE-updates main
EOF
: >"$APTDIR/status"
write_apt_conf "$APTDIR" 'Dir::State::status "'"$APTDIR"'/status";' \
	'APT::Architecture "arm64";' 'APT::Architectures { "arm64"; };'
export APT_CONFIG=$APTDIR/apt.conf
log "private apt (arm64): $SUITE and $SUITE-updates from $uri"
apt-get -q update >"$APTDIR/update.log" 2>&1 ||
	die "apt-get update with the private arm64 configuration failed; see $APTDIR/update.log"

# Every package must exist for arm64, or say which does not, before
# anything is unpacked.
have=$(apt-cache show --no-all-versions "${PKGS[@]}" 2>/dev/null |
	awk '/^Package: / {p = $2} /^Architecture: (arm64|all)$/ {print p}') || true
missing=()
for p in "${PKGS[@]}"; do
	grep -qxF "$p" <<<"$have" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] ||
	die "not available for arm64 in $SUITE from $uri: ${missing[*]} (see $APTDIR/update.log)"
log "all ${#PKGS[@]} packages available for arm64"

tmp=$ROOT.tmp
rm -rf "$tmp"
log "unpacking ${#PKGS[@]} packages and their dependencies into $tmp (mmdebstrap --variant=extract)"
inc=$(IFS=,; echo "${PKGS[*]}")
mmdebstrap --arch=arm64 --variant=extract --include="$inc" "$SUITE" "$tmp" "$APTDIR/sources.list" \
	> >(sed -u 's/^/  mmdebstrap: /' >&2) 2>&1 ||
	die "mmdebstrap failed (its messages are above)"

# What the skipped maintainer scripts would have made.
[ -f "$tmp/usr/share/base-passwd/passwd.master" ] || die "base-passwd did not unpack"
cp "$tmp/usr/share/base-passwd/passwd.master" "$tmp/etc/passwd"
cp "$tmp/usr/share/base-passwd/group.master" "$tmp/etc/group"
[ -e "$tmp/usr/bin/awk" ] || ln -s mawk "$tmp/usr/bin/awk"
[ -x "$tmp/bin/sh" ] || die "dash did not provide /bin/sh"
for d in proc sys dev run tmp var/tmp var/log root lib/modules; do mkdir -p "$tmp/$d"; done
echo rdmadma-guest >"$tmp/etc/hostname"
if command -v qemu-aarch64-static >/dev/null; then
	qemu-aarch64-static "$tmp/sbin/ldconfig" -r "$tmp" ||
		die "ldconfig (arm64, under qemu-aarch64-static) failed in $tmp"
	log "ld.so.cache written by the arm64 ldconfig (qemu-aarch64-static)"
else
	log "no qemu-aarch64-static: no ld.so.cache (ld.so searches the multiarch directories itself)"
fi
for f in bin/busybox bin/bash usr/bin/ibv_devinfo usr/bin/rping usr/bin/ib_write_bw bin/ip usr/bin/setpriv; do
	[ -e "$tmp/$f" ] || die "$f missing from the unpacked tree"
done

echo "$want" >"$tmp/.rdmadma-root"
rm -rf "$ROOT"
mv "$tmp" "$ROOT"
install_init
log "arm64 root filesystem ready: $ROOT ($(du -sh "$ROOT" | cut -f1))"

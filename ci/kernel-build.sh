#!/usr/bin/env bash
# Build bzImage out of tree, with ccache, from the fragments in kernel/configs.
#
#   ci/kernel-build.sh [--variant patched|stock] [--src DIR]
#
# patched (default): build/linux with kernel/series applied -> build/kbuild
# stock:             the pristine tag, as a worktree        -> build/kbuild-stock
# --src DIR:         any other tree (a developer worktree)
#
# Objects go to <tree>/kbuild-out (a link build/kbuild* points there). kbuild
# then names sources relative to the object directory, so ccache hits across
# trees: a second tree costs only the files that differ.
# The config is only regenerated when a fragment changes, so an edit in the
# tree rebuilds just what it touched.
. "$(dirname "$0")/lib.sh"

variant=patched
while [ $# -gt 0 ]; do
	case "$1" in
	--variant) variant=${2:-}; shift 2 || die "--variant needs a value" ;;
	--variant=*) variant=${1#*=}; shift ;;
	--src) src_arg=${2:-}; shift 2 || die "--src needs a directory" ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

case "$variant" in
patched) src=$KSRC; link=$BUILD/kbuild ;;
stock)
	src=$BUILD/linux-stock; link=$BUILD/kbuild-stock
	[ -d "$KSRC/.git" ] || die "no kernel tree; run ci/kernel-source.sh first"
	if [ ! -e "$src/.git" ]; then
		git -C "$KSRC" worktree prune
		git -C "$KSRC" worktree add -q --detach "$src" pristine
	fi
	;;
*) die "unknown variant '$variant' (patched or stock)" ;;
esac
if [ -n "${src_arg:-}" ]; then
	src=$(cd "$src_arg" && pwd) || die "--src $src_arg: no such directory"
	link=$BUILD/kbuild-$(basename "$src")
fi
[ -f "$src/Makefile" ] || die "no kernel source at $src; run ci/kernel-source.sh first"
out=$src/kbuild-out
excl=$(git -C "$src" rev-parse --git-common-dir 2>/dev/null)/info/exclude
[ -f "$excl" ] && ! grep -qx '/kbuild-out/' "$excl" && echo '/kbuild-out/' >>"$excl"
ln -sfn "$out" "$link"
need_cmd ccache gcc make flex bison bc

kbuild_lock
mkdir -p "$out" "$CCACHE_DIR"
export CCACHE_NOHASHDIR=1
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
export KBUILD_BUILD_USER=rdma-dma KBUILD_BUILD_HOST=ci
MK=(make -s -C "$src" O="$out" CC="ccache gcc" HOSTCC="ccache gcc" -j"$(nproc)")

frags=("$TOP"/kernel/configs/*.config)
want=$(cat "${frags[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.config-frags" 2>/dev/null)" != "$want" ]; then
	log "configuring $variant kernel from ${#frags[@]} fragments"
	"${MK[@]}" allnoconfig >/dev/null
	(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >"$out/merge_config.log") ||
		die "merge_config.sh failed; see $out/merge_config.log"
	"${MK[@]}" olddefconfig >/dev/null
	# A fragment line that did not survive olddefconfig is a dependency we
	# missed; say so rather than boot a kernel without it.
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n) sym=${line%%=*}
			grep -q "^$sym=" "$out/.config" && { echo "  $sym is set but the fragment wants it off" >&2; bad=1; } ;;
		CONFIG_*=*) grep -qxF "$line" "$out/.config" || { echo "  $line did not take effect" >&2; bad=1; } ;;
		esac
	done < <(cat "${frags[@]}")
	[ $bad -eq 0 ] || die "kernel config does not match kernel/configs (missing dependencies?)"
	echo "$want" >"$out/.config-frags"
fi

log "building $variant bzImage in $out (ccache: $CCACHE_DIR)"
rc=0
"${MK[@]}" bzImage >"$out/build.log" 2>&1 || rc=$?
grep -E 'warning:|error:' "$out/build.log" >&2 || true
[ "$rc" -eq 0 ] || die "kernel build failed; full log: $out/build.log"
log "bzImage: $out/arch/x86/boot/bzImage ($(make -s -C "$src" O="$out" kernelrelease 2>/dev/null))"

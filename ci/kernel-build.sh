#!/usr/bin/env bash
# Build bzImage out of tree, with ccache, from the fragments in kernel/configs.
#
#   ci/kernel-build.sh [--variant patched|kasan|stock|nogate] [--release] [--arch x86_64|arm64]
#                      [--w1] [--src DIR]
#
# patched (default): build/linux with kernel/series applied -> build/kbuild
# kasan:             the same tree, plus kernel/configs/variants/kasan.config
#                                                           -> build/kbuild-kasan
# stock:             the pristine tag, as a worktree        -> build/kbuild-stock
# nogate:            pristine + kernel/nogate.series (rxe test mode, no gate)
#                                                           -> build/kbuild-nogate
# --release:         patched, stock or nogate configured as a distribution
#                    ships it, for make bench: Debian's own cloud-amd64
#                    config plus kernel/configs/variants/release.config (no
#                    lockdep, kmemleak, dma-debug, fault injection or KASAN)
#                    instead of the debug fragments   -> build/kbuild-release
#                    (patched), build/kbuild-release-stock, -nogate; its
#                    modules trimmed by make localmodconfig to
#                    kernel/configs/variants/release.modules
#                    (RELEASE_MODULES=all keeps all of Debian's)
# --src DIR:         any other tree (a developer worktree)
# --arch arm64:      cross-compile the same tree and variant for arm64 (Debian's
#                    gcc-aarch64-linux-gnu), with kernel/configs/arch/arm64.config
#                    added after the shared fragments; objects in
#                    <tree>/kbuild-out[-VARIANT]-arm64, linked as build/kbuild*-arm64,
#                    image arch/arm64/boot/Image. x86_64 (default) is unchanged.
# --w1:              after the build, compile again with W=1 each C file the
#                    tree changes against its pristine tag: those this
#                    configuration links, then the rest in a second object
#                    directory with kernel/configs/w1/ARCH.config added;
#                    any warning fails. Other architectures' files are listed.
#
# Objects go to <tree>/kbuild-out (a link build/kbuild* points there). kbuild
# then names sources relative to the object directory, so ccache hits across
# trees: a second tree costs only the files that differ.
# The config is only regenerated when a fragment changes, so an edit in the
# tree rebuilds just what it touched.
. "$(dirname "$0")/lib.sh"

variant=patched arch=x86_64 release=0 w1=0
while [ $# -gt 0 ]; do
	case "$1" in
	--variant) variant=${2:-}; shift 2 || die "--variant needs a value" ;;
	--variant=*) variant=${1#*=}; shift ;;
	--src) src_arg=${2:-}; shift 2 || die "--src needs a directory" ;;
	--arch) arch=${2:-}; shift 2 || die "--arch needs a value" ;;
	--arch=*) arch=${1#*=}; shift ;;
	--release) release=1; shift ;;
	--w1) w1=1; shift ;;
	-h | --help) sed -n '2,35p' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

# worktree_with NAME PATCH...: build/linux-NAME at pristine with exactly these
# patches from kernel/ applied; rebuilt only when the list or a patch changes.
worktree_with() {
	local dir=$BUILD/linux-$1 want p
	shift
	[ -d "$KSRC/.git" ] || die "no kernel tree; run ci/kernel-source.sh first"
	want=$(cd "$TOP/kernel" && cat /dev/null "$@" | sha256sum | cut -d' ' -f1)
	[ -e "$dir/.git" ] && [ "$(cat "$dir/.variant-stamp" 2>/dev/null)" = "$want" ] && return 0
	log "preparing $dir: pristine + $# patches"
	if [ ! -e "$dir/.git" ]; then
		git -C "$KSRC" worktree prune
		git -C "$KSRC" worktree add -q --detach "$dir" pristine
	fi
	git -C "$dir" am --abort >/dev/null 2>&1 || true
	git -C "$dir" checkout -q --detach pristine
	for p in "$@"; do
		git -C "$dir" -c user.name=rdma-dma-ci -c user.email=ci@localhost am -q "$TOP/kernel/$p" ||
			die "kernel/$p does not apply to pristine for variant $(basename "$dir")"
	done
	echo "$want" >"$dir/.variant-stamp"
}

outname=kbuild-out extra=()
case "$variant" in
patched) src=$KSRC; link=$BUILD/kbuild ;;
kasan)
	src=$KSRC; link=$BUILD/kbuild-kasan; outname=kbuild-out-kasan
	extra=("$TOP/kernel/configs/variants/kasan.config")
	;;
stock)
	worktree_with stock
	src=$BUILD/linux-stock; link=$BUILD/kbuild-stock
	;;
nogate)
	# Only what the rxe test mode needs, none of the gate: the kernel on
	# which the tests show the corruption the gate prevents.
	[ -f "$TOP/kernel/nogate.series" ] || die "kernel/nogate.series missing"
	mapfile -t np < <(sed -e '/^#/d' -e '/^$/d' "$TOP/kernel/nogate.series")
	worktree_with nogate "${np[@]}"
	src=$BUILD/linux-nogate; link=$BUILD/kbuild-nogate
	;;
*) die "unknown variant '$variant' (patched, kasan, stock or nogate)" ;;
esac
base_cfg=
if [ $release -eq 1 ]; then
	case $arch in x86_64 | x86) ;; *) die "--release is x86_64 only (Debian's cloud-amd64 configuration)" ;; esac
	[ "$variant" != kasan ] || die "--release is for patched, stock and nogate; KASAN is a debug build"
	need_cmd xz openssl
	base_cfg=$(debian_cloud_config)
	outname=kbuild-out-release
	link=$BUILD/kbuild-release
	[ "$variant" = patched ] || link=$BUILD/kbuild-release-$variant
fi
if [ -n "${src_arg:-}" ]; then
	src=$(cd "$src_arg" && pwd) || die "--src $src_arg: no such directory"
	link=$BUILD/kbuild-$(basename "$src")
fi
# Per architecture: the compiler, the image and where objects go. Each arch
# has its own object directory, so x86 and arm64 builds of one tree coexist.
case "$arch" in
x86_64 | x86)
	arch=x86_64 kmake=() cc=gcc image=arch/x86/boot/bzImage target=bzImage
	;;
arm64 | aarch64)
	arch=arm64 cc=aarch64-linux-gnu-gcc image=arch/arm64/boot/Image target=Image
	kmake=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
	outname=$outname-arm64 link=$link-arm64
	extra=("$TOP/kernel/configs/arch/arm64.config" "${extra[@]}")
	[ -f "$TOP/kernel/configs/arch/arm64.config" ] || die "kernel/configs/arch/arm64.config missing"
	;;
*) die "unknown arch '$arch' (x86_64 or arm64)" ;;
esac
[ -f "$src/Makefile" ] || die "no kernel source at $src; run ci/kernel-source.sh first"
out=$src/$outname
excl=$(git -C "$src" rev-parse --git-common-dir 2>/dev/null)/info/exclude
[ -f "$excl" ] && ! grep -qx "/$outname/" "$excl" && echo "/$outname/" >>"$excl"
ln -sfn "$out" "$link"
need_cmd ccache gcc "$cc" make flex bison bc depmod

kbuild_lock
mkdir -p "$out" "$CCACHE_DIR"
export CCACHE_NOHASHDIR=1
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
export KBUILD_BUILD_USER=rdma-dma KBUILD_BUILD_HOST=ci
MK=(make -s -C "$src" O="$out" "${kmake[@]}" CC="ccache $cc" HOSTCC="ccache gcc" -j"$(nproc)")

# The configuration starts from allnoconfig plus every fragment, or for
# --release from Debian's configuration plus the release fragment alone.
mods=$TOP/kernel/configs/variants/release.modules
release_modules=${RELEASE_MODULES:-trim}
if [ -n "$base_cfg" ]; then
	case $release_modules in trim | all) ;; *) die "RELEASE_MODULES wants trim or all, got '$release_modules'" ;; esac
	[ -f "$mods" ] || die "$mods missing"
	frags=("$TOP/kernel/configs/variants/release.config")
	want=$({ xz -dc "$base_cfg"; cat "${frags[@]}"; echo "modules: $release_modules"
		[ "$release_modules" = all ] || cat "$mods"; } | sha256sum | cut -d' ' -f1)
else
	frags=("$TOP"/kernel/configs/*.config "${extra[@]}")
	want=$(cat "${frags[@]}" | sha256sum | cut -d' ' -f1)
fi

# effective_lines FRAG...: the fragments' CONFIG_ lines, the last one of each
# symbol only (a later fragment overrides an earlier one, as in merge_config.sh).
effective_lines() {
	cat "$@" | awk '/^CONFIG_[A-Za-z0-9_]+=/ {
		s = $0; sub(/=.*/, "", s)
		if (!(s in v)) o[n++] = s
		v[s] = $0
	} END { for (i = 0; i < n; i++) print v[o[i]] }'
}

# config_matches DIR FRAG...: every fragment line is in effect in DIR/.config.
# Checked on every build, because a make run by hand (or in an older
# checkout) can silently drop a symbol the fragments want.
config_matches() {
	local dir=$1 line sym bad=0 known=
	shift
	# The stock and nogate trees lack the symbols the series adds (its KUnit
	# suite); only the patched tree must know every symbol.
	if [ "$variant" != patched ] && [ "$variant" != kasan ]; then
		known=$(find "$src" -name 'Kconfig*' -not -path '*/kbuild-out*/*' -print0 |
			xargs -0 sed -n 's/^[[:space:]]*\(menu\)\{0,1\}config[[:space:]]\{1,\}\([A-Za-z0-9_]*\).*/CONFIG_\2/p' | sort -u)
	fi
	while IFS= read -r line; do
		sym=${line%%=*}
		[ -n "$known" ] && [[ $line == CONFIG_* ]] && ! grep -qx "$sym" <<<"$known" && continue
		case "$line" in
		CONFIG_*=n)
			grep -q "^$sym=" "$dir/.config" && { echo "  $sym is set but the fragment wants it off" >&2; bad=1; } ;;
		CONFIG_*=*) grep -qxF "$line" "$dir/.config" || { echo "  $line is not in effect" >&2; bad=1; } ;;
		esac
	done < <(effective_lines "$@")
	return $bad
}

# merge_fragments DIR FRAG...: merge the fragments into DIR/.config, let
# olddefconfig settle it, and check that every fragment line survived (one
# that did not is a dependency we missed, or a symbol this tree lacks).
merge_fragments() {
	local dir=$1
	shift
	(cd "$dir" && "$src/scripts/kconfig/merge_config.sh" -m -O "$dir" "$dir/.config" "$@" >"$dir/merge_config.log") ||
		die "merge_config.sh failed; see $dir/merge_config.log"
	"${MK[@]/#O=*/O=$dir}" olddefconfig >/dev/null
	config_matches "$dir" "$@"
}

if [ ! -f "$out/.config" ] || [ "$(cat "$out/.config-frags" 2>/dev/null)" != "$want" ] ||
	! config_matches "$out" "${frags[@]}" 2>/dev/null; then
	if [ -n "$base_cfg" ]; then
		log "configuring $variant kernel from Debian's cloud-amd64 configuration and ${frags[*]#"$TOP"/}, modules: $release_modules"
		xz -dc "$base_cfg" >"$out/.config"
		if [ "$release_modules" = trim ]; then
			# localmodconfig reads an lsmod listing: keep these modules
			# (and what they need), switch every other one off.
			awk 'BEGIN {print "Module Size Used by"} /^[a-z0-9_]+$/ {print $1, 0, 0}' "$mods" >"$out/release.lsmod"
			"${MK[@]}" LSMOD="$out/release.lsmod" localmodconfig </dev/null >"$out/localmodconfig.log" 2>&1 ||
				die "make localmodconfig failed; see $out/localmodconfig.log"
		fi
	else
		log "configuring $variant $arch kernel from ${#frags[@]} fragments"
		"${MK[@]}" allnoconfig >/dev/null
	fi
	# Say so rather than boot without a fragment line.
	merge_fragments "$out" "${frags[@]}" ||
		die "kernel config does not match kernel/configs (missing dependencies, or a symbol this $variant tree does not have?)"
	echo "$want" >"$out/.config-frags"
fi

what=$variant
[ $release -eq 0 ] || what="$variant (release)"
log "building $what $arch $target and modules in $out (ccache: $CCACHE_DIR)"
rc=0
with_progress "building $what $arch" "$out" "$out/build.log" "${MK[@]}" "$target" modules || rc=$?
grep -E 'warning:|error:' "$out/build.log" >&2 || true
[ "$rc" -eq 0 ] || die "kernel build failed; full log: $out/build.log"
# The guests load the modules from here (tests/vm/run-vm.sh finds modroot
# next to the kernel image); nothing is installed on the host. Installed
# again only when a module or System.map is newer than the last install:
# a build that changed nothing must not pull the modules from under a
# guest that is using them.
stamp=$out/modroot/.installed
if [ ! -f "$stamp" ] || [ "$out/System.map" -nt "$stamp" ] ||
	[ -n "$(find "$out" -path "$out/modroot" -prune -o -name '*.ko' -newer "$stamp" -print -quit)" ]; then
	rm -rf "$out/modroot"
	"${MK[@]}" INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 modules_install \
		>"$out/modules_install.log" 2>&1 ||
		die "modules_install failed; log: $out/modules_install.log"
	touch "$stamp"
fi
log "$target: $out/$image ($(make -s -C "$src" O="$out" "${kmake[@]}" kernelrelease 2>/dev/null))"

# W=1 on what the series changes, for the files this configuration links:
# the members of vmlinux.a (a thin archive) and of every module (its .mod
# file). kbuild compiles a single-object target whether or not any Kconfig
# symbol selects it, so asking make is no test, and neither is an object
# lying in the tree (such a compile leaves one behind). The plain build's
# objects and their .cmd files are put back afterwards, mtimes and all, so
# the next build does not relink (which would also bump the kernel's build
# number and so change the image that guests are reused against).
[ $w1 -eq 1 ] || exit 0
git -C "$src" rev-parse -q --verify pristine >/dev/null || die "--w1: $src has no 'pristine' tag to diff against"
linked=$(cd "$out" && { ar t vmlinux.a && sed 's/\.o$/.mod/' modules.order | xargs -r cat; } | tr ' ' '\n' | sort -u) ||
	die "--w1: cannot list the objects of $out (vmlinux.a, modules.order)"
objs=() unbuilt=()
while IFS= read -r f; do
	if grep -qxF "${f%.c}.o" <<<"$linked"; then objs+=("${f%.c}.o"); else unbuilt+=("$f"); fi
done < <(git -C "$src" diff --name-only --diff-filter=AM pristine HEAD -- '*.c')

# w1_compile LOG MAKE... -- OBJECT...: compile the objects with W=1; fail
# on a warning or an error, shown with the log's name.
w1_compile() {
	local logf=$1 cmd=() r=0
	shift
	while [ "$1" != -- ]; do cmd+=("$1"); shift; done
	shift
	"${cmd[@]}" W=1 "$@" >"$logf" 2>&1 || r=$?
	if grep -E 'warning:|error:' "$logf" >&2 || [ $r -ne 0 ]; then
		die "W=1 compile of the changed files failed or warned; full log: $logf"
	fi
}
if [ ${#objs[@]} -gt 0 ]; then
	log "W=1: compiling the ${#objs[@]} changed C files this $arch configuration builds"
	keep=$out/.w1-plain
	rm -rf "$keep"
	for o in "${objs[@]}"; do
		mkdir -p "$keep/${o%/*}"
		cp -p "$out/$o" "$out/${o%/*}/.${o##*/}.cmd" "$keep/${o%/*}/"
	done
	w1_compile "$out/w1.log" "${MK[@]}" -- "${objs[@]}"
	cp -pr "$keep/." "$out/"
	rm -rf "$keep"
fi

# The changed files the test kernel does not build (drivers for hardware it
# has no use for, Xen): compiled with W=1 in a second object directory
# whose configuration adds kernel/configs/w1/ARCH.config, after only `make
# prepare`. Other architectures' files and tools/ are left out and listed.
wfrag=$TOP/kernel/configs/w1/$arch.config
archdir=${arch%_64}
rest=() skipped=()
for f in "${unbuilt[@]}"; do
	case $f in
	tools/*) skipped+=("$f") ;;
	arch/"$archdir"/*) rest+=("$f") ;;
	arch/*) skipped+=("$f") ;;
	*) rest+=("$f") ;;
	esac
done
if [ ${#rest[@]} -gt 0 ] && [ -f "$wfrag" ]; then
	wout=$out-w1
	[ -f "$excl" ] && ! grep -qx "/$outname-w1/" "$excl" && echo "/$outname-w1/" >>"$excl"
	MKW=("${MK[@]/#O=*/O=$wout}")
	mkdir -p "$wout"
	cp "$out/.config" "$wout/.config"
	merge_fragments "$wout" "$wfrag" || die "${wfrag#"$TOP"/} does not take effect (a missing dependency?)"
	"${MKW[@]}" prepare >"$wout/prepare.log" 2>&1 || die "make prepare failed in $wout; log: $wout/prepare.log"
	log "W=1: compiling ${#rest[@]} more changed C files with ${wfrag#"$TOP"/}: ${rest[*]}"
	w1_compile "$wout/w1.log" "${MKW[@]}" -- "${rest[@]/%.c/.o}"
	objs+=("${rest[@]}")
else
	skipped+=("${rest[@]}")
fi
[ ${#skipped[@]} -eq 0 ] || log "W=1: not compiled for $arch: ${skipped[*]}"
log "W=1: ${#objs[@]} changed C files compile without a warning ($arch)"

#!/usr/bin/env bash
# Move a patch series between its directory in this repo and its git tree
# under build/ (where patches are edited as commits on top of tag 'pristine').
#
#   ci/series.sh apply  kernel|rdma-core   series -> tree (git am onto pristine)
#   ci/series.sh export kernel|rdma-core   tree -> series (git format-patch)
#   ci/series.sh status kernel|rdma-core   say whether the two agree
#   ci/series.sh export-debian kernel|rdma-core DIR
#                                          series -> DIR as a Debian quilt
#                                          series (debian/patches layout:
#                                          DIR/series, DEP-3 headers), then
#                                          checked with quilt push -a --fuzz=0
#                                          on the pristine tree
#
# apply never throws away work. When only the tree moved on (edits or commits
# since the last apply/export), it leaves the tree alone so that the edits get
# built. When the series changed too, it refuses until one side is dropped.
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,16p' "$0" >&2; exit 2; }
action=${1:-}
if [ "$action" = export-debian ]; then
	[ $# -eq 3 ] || usage
	outdir=$3
else
	[ $# -eq 2 ] || usage
fi
case "$2" in
kernel) tree=$KSRC; pdir=$TOP/kernel ;;
rdma-core) tree=$RDMA_SRC; pdir=$TOP/rdma-core-patches ;;
*) echo "error: unknown series '$2' (kernel or rdma-core)" >&2; usage ;;
esac
[ -d "$tree/.git" ] || die "no git tree at $tree; run 'make sources' first"
stamp=$tree/.git/applied-series
g() { git -C "$tree" -c user.name=rdma-dma-ci -c user.email=ci@localhost "$@"; }

in_sync() {
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(series_hash "$pdir") $(g rev-parse HEAD)" ]
}

# True when resetting the tree loses nothing: no edits, and HEAD is what was
# last applied or exported (or pristine).
tree_disposable() {
	local head
	[ -z "$(g status --porcelain --untracked-files=no)" ] || return 1
	head=$(g rev-parse HEAD)
	[ "$head" = "$(g rev-parse pristine)" ] && return 0
	[ -f "$stamp" ] && [ "$head" = "$(cut -d' ' -f2 "$stamp")" ]
}

case "$action" in
status)
	if in_sync; then echo "$2: tree and series agree"; else echo "$2: tree and series differ"; exit 1; fi
	;;
apply)
	in_sync && { log "$2: series already applied in $tree"; exit 0; }
	# The series did not change since the tree last matched it: the tree
	# holds the developer's newer work, which is what gets built.
	if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$(series_hash "$pdir")" ]; then
		log "$2: building $tree as it is; it has edits not yet in ${pdir#"$TOP"/}/ ('ci/series.sh export $2' saves them)"
		exit 0
	fi
	tree_disposable ||
		die "$tree has edits or commits not in ${pdir#"$TOP"/}/; run 'ci/series.sh export $2' first, or 'git -C $tree reset --hard pristine' to drop them"
	g am --abort >/dev/null 2>&1 || true
	g checkout -q -B work pristine
	n=0
	while read -r p; do
		case "$p" in '' | \#*) continue ;; esac
		g am -q --keep-cr "$pdir/$p" || {
			g am --abort || true
			die "${pdir#"$TOP"/}/$p does not apply with git am on top of pristine"
		}
		n=$((n + 1))
	done <"$pdir/series"
	echo "$(series_hash "$pdir") $(g rev-parse HEAD)" >"$stamp"
	log "$2: applied $n patches from ${pdir#"$TOP"/}/series"
	;;
export)
	[ -z "$(g status --porcelain --untracked-files=no)" ] ||
		die "$tree has uncommitted changes; commit them first"
	rm -f "$pdir"/*.patch
	g format-patch -q --no-signature --zero-commit -N -o "$pdir" pristine..HEAD
	(cd "$pdir" && { ls -1 -- *.patch 2>/dev/null || true; } >series)
	echo "$(series_hash "$pdir") $(g rev-parse HEAD)" >"$stamp"
	log "$2: exported $(grep -c . "$pdir/series" || true) patches to ${pdir#"$TOP"/}/"
	;;
export-debian)
	# From the committed series (the patches git am applies), so that the
	# export does not depend on what the tree holds now.
	need_cmd quilt python3
	mkdir -p "$outdir"
	outdir=$(cd "$outdir" && pwd)
	rm -f "$outdir"/*.patch "$outdir/series"
	mapfile -t ps < <(sed -e '/^#/d' -e '/^$/d' "$pdir/series")
	python3 "$TOP/ci/dep3.py" "$outdir" "${ps[@]/#/$pdir/}" || die "DEP-3 conversion failed"
	log "$2: ${#ps[@]} patches with DEP-3 headers in $outdir"
	# The proof: quilt applies every patch without fuzz to the pristine
	# source, and the result is what git am makes of the series.
	chk=$(mktemp -d "$BUILD/quilt-check.XXXXXX")
	trap 'rm -rf "$chk"' EXIT
	g archive pristine | tar -C "$chk" -x
	(cd "$chk" && QUILT_PATCHES=$outdir QUILT_PC=.pc quilt --quiltrc=- push -a --fuzz=0 -q) >"$chk.log" 2>&1 ||
		{ cat "$chk.log" >&2; rm -f "$chk.log"; die "quilt push -a --fuzz=0 failed on the pristine $2 tree"; }
	rm -f "$chk.log"
	log "$2: quilt push -a --fuzz=0 applies all ${#ps[@]} patches to pristine"
	if in_sync; then
		ref=$(mktemp -d "$BUILD/quilt-ref.XXXXXX")
		trap 'rm -rf "$chk" "$ref"' EXIT
		g archive HEAD | tar -C "$ref" -x
		diff -r -q -x .pc "$ref" "$chk" >&2 || die "the quilt result differs from the git am result ($tree HEAD)"
		log "$2: the quilt result equals the tree's HEAD"
	else
		log "$2: tree and series differ; the quilt result was not compared with the tree"
	fi
	;;
*) usage ;;
esac

#!/usr/bin/env bash
# Make the "Update kernel headers" commit of the rdma-core series the way
# rdma-core makes it, with its own kernel-headers/update, from the uAPI
# patches of this project's kernel series.
#
#   ci/rdma-core-headers.sh [--amend]
#
# A whole sync from the 6.12 tree would take rdma-core 56.1's headers back
# to 6.12 (56.1 uses newer efa and mlx5 uAPI), so the sync is made from a
# scratch kernel tree: include/uapi/rdma as rdma-core 56.1 ships it, plus
# the include/uapi/rdma part of every kernel/ patch that touches it, each
# a commit with the patch's author and subject. kernel-headers/update then
# copies that tree into build/rdma-core (on top of HEAD, or replacing the
# HEAD commit with --amend) with --not-final, since the scratch commits are
# no kernel commits: the "To commit:" line names the kernel patch's subject.
. "$(dirname "$0")/lib.sh"

scratch=$BUILD/kheaders-scratch
[ -d "$RDMA_SRC/.git" ] || die "no git tree at $RDMA_SRC; run ci/rdma-core-source.sh first"
g() { git -C "$1" -c user.name="RDMA DMA Developers" -c user.email=rdma-dma@example.org "${@:2}"; }

rm -rf "$scratch"
mkdir -p "$scratch/include/uapi"
g "$scratch" init -q
git -C "$RDMA_SRC" archive pristine kernel-headers/rdma | tar -C "$scratch" -x
mv "$scratch/kernel-headers/rdma" "$scratch/include/uapi/rdma"
rm -rf "$scratch/kernel-headers" "$scratch/include/uapi/rdma/CMakeLists.txt"
g "$scratch" add -A
g "$scratch" commit -q -m "include/uapi/rdma as rdma-core $RDMA_CORE_VER ships it"
n=0
while read -r p; do
	case "$p" in '' | \#*) continue ;; esac
	grep -q '^+++ b/include/uapi/rdma/' "$TOP/kernel/$p" || continue
	g "$scratch" am -q --include='include/uapi/rdma/*' "$TOP/kernel/$p" ||
		die "the uAPI part of kernel/$p does not apply to rdma-core $RDMA_CORE_VER's headers"
	log "uAPI of kernel/$p"
	n=$((n + 1))
done <"$TOP/kernel/series"
[ $n -gt 0 ] || die "no kernel/ patch touches include/uapi/rdma"
[ $n -eq 1 ] || log "note: $n uAPI patches; the 'To commit:' line names the last one"
[ -z "$(git -C "$RDMA_SRC" status --porcelain --untracked-files=no)" ] ||
	die "$RDMA_SRC has uncommitted changes; commit them first"
# The script signs off with user.name and user.email of the tree.
export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=user.name GIT_CONFIG_VALUE_0="RDMA DMA Developers" \
	GIT_CONFIG_KEY_1=user.email GIT_CONFIG_VALUE_1=rdma-dma@example.org
(cd "$RDMA_SRC" && python3 kernel-headers/update --not-final "$@" "$scratch" HEAD)

# update writes the subject, the "To commit:" line and the sign-off; add
# why and DEP-3, keeping its lines as they are.
msg=$(git -C "$RDMA_SRC" log -1 --format=%B)
{
	sed '/^Signed-off-by:/,$d' <<<"$msg" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
	echo
	cat <<-'EOF'
	The equivalent of upstream rdma-core commit 2e5f54e39 ("Update kernel
	headers", linux-rdma/rdma-core#1748) for this flag: the same enum value
	and comment, the one hunk IBV_DEVICE_CC_DMA_BOUNCE needs. Made with
	kernel-headers/update (--not-final, hence "??") from the uAPI patch of
	this project's 6.12 kernel series, which backports mainline commit
	d7a40b519497 (Linux 7.2), applied to the headers 56.1 ships: a sync of
	the whole 6.12 tree would take the efa and mlx5 uAPI that 56.1 uses
	back to 6.12. ci/rdma-core-headers.sh makes this commit.

	Origin: backport, https://github.com/linux-rdma/rdma-core/commit/2e5f54e39
	Applied-Upstream: https://github.com/linux-rdma/rdma-core/commit/2e5f54e39
	Forwarded: not-needed
	EOF
	grep '^Signed-off-by:' <<<"$msg"
} >"$BUILD/kheaders-msg.txt"
git -C "$RDMA_SRC" commit -q --amend -F "$BUILD/kheaders-msg.txt"
log "$(git -C "$RDMA_SRC" log -1 --format='%h %s')"

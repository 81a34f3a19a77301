#!/usr/bin/env bash
# What `make run` shows, measured in a guest: run by guest-init (GUEST_CMD)
# in the direct or the swiotlb configuration. Prints what it does, and
# writes its findings as KEY=VALUE lines to $RDMA_TEST_ARTIFACTS/demo.txt,
# which ci/run.sh turns into the story screen and checks. It judges
# nothing itself: every claim is checked on the host.
set -u
TESTS_DIR=$(cd "$(dirname "$0")/.." && pwd)
export TESTS_DIR
CASE_TMP=$(mktemp -d /tmp/rdmadma-demo.XXXXXX)
# shellcheck disable=SC1091
. "$TESTS_DIR/lib/common.sh"
if [ -n "${RDMA_CORE_BUILD:-}" ]; then
	export PATH=$RDMA_CORE_BUILD/bin:$PATH
	export LD_LIBRARY_PATH=$RDMA_CORE_BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
out=${RDMA_TEST_ARTIFACTS:?}/demo.txt
: >"$out"
put() { echo "$1=$2" >>"$out"; echo "# $1=$2"; }
trap 'cleanup_peers; rxe_del_all; umem_switches_on' EXIT

# regtime KEY SIZE REPS [ENV...]: one line of regtime, split into KEY.* values.
regtime() {
	local key=$1 size=$2 reps=$3 line
	shift 3
	line=$(env "$@" "$(test_bin regtime)" "$dev" "$size" "$reps") || { put "$key.run" failed; return 1; }
	echo "# regtime $size x$reps: $line"
	for kv in $line; do put "$key.${kv%%=*}" "${kv#*=}"; done
}

put config "$(dma_config)"
put kernel "$(uname -r)"
rxe_add dev "$(testmode_netdev)" testmode || { put testmode failed; exit 1; }
put device "$dev"
put parent "$(testmode_parent)"
put dma_coherence "$(cat "/sys/class/infiniband/$dev/dma_coherence" 2>/dev/null || echo none)"
put devinfo "$(ibv_devinfo -v -d "$dev" | grep -m1 'dma_coherence' | sed 's/^[[:space:]]*//')"

regtime reg4k 4K 21
regtime reg1g 1G 5

ip=$(netdev_ip "$(testmode_netdev)")
gid=$(gid_index "$dev")
case $(dma_config) in
swiotlb)
	# What an application sees: our rdma-core names the cause...
	run_pair pingpong ibv_rc_pingpong -d "$dev" -g "$gid" -n 5 -- \
		ibv_rc_pingpong -d "$dev" -g "$gid" -n 5 "$ip" && put pingpong ok || put pingpong failed
	put hint "$(grep -m1 '^hint:' "$CASE_TMP/pingpong.client")"
	# ...Debian's own libibverbs gives the same errno, and no explanation.
	regtime debian4k 4K 3 LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu
	put debian_hint "$(LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu /usr/bin/ibv_rc_pingpong \
		-d "$dev" -g "$gid" -n 1 2>&1 </dev/null | grep -c '^hint:')"
	# The same kernel mapping user memory as stock 6.12 does (test switch).
	if echo N >"$UMEM_DEBUGFS/require_coherent" 2>/dev/null; then
		# one rxe device per netdev: the refusing one goes first
		rxe_del_all
		rxe_add dev2 "$(testmode_netdev)" testmode || exit 1
		RDMA_DEV=$dev2 RDMA_GID_INDEX=$(gid_index "$dev2") RDMA_EXPECT_DATA=lost \
			"$(test_bin rc_data)" >"$CASE_TMP/hazard" 2>&1
		sed 's/^/#   /' "$CASE_TMP/hazard"
		echo Y >"$UMEM_DEBUGFS/require_coherent"
		put hazard_visible "$(sed -n 's/.*after RDMA WRITE, \([0-9]*\) of \([0-9]*\) bytes visible.*/\1/p' "$CASE_TMP/hazard" | head -1)"
		put hazard_total "$(sed -n 's/.*after RDMA WRITE, \([0-9]*\) of \([0-9]*\) bytes visible.*/\2/p' "$CASE_TMP/hazard" | head -1)"
	else
		put hazard_visible none
	fi
	;;
*)
	run_pair rping rping -s -a "$ip" -C 10 -v -V -- rping -c -a "$ip" -C 10 -v -V &&
		put rping_pings "$(grep -c 'ping data' "$CASE_TMP/rping.client")" || put rping_pings 0
	RDMA_DEV=$dev RDMA_GID_INDEX=$gid "$(test_bin rc_data)" >"$CASE_TMP/rc" 2>&1 &&
		put rc_data ok || put rc_data failed
	put rc_bytes "$(sed -n 's/.*after RDMA WRITE, \([0-9]*\) of [0-9]* bytes visible.*/\1/p' "$CASE_TMP/rc" | head -1)"
	;;
esac
put done yes

# shellcheck shell=bash
DESCRIPTION="test mode on a netdev with no DMA-capable parent (veth): rdma link add fails with ENODEV and says why"

requires() { _have_root && _have_rxe && _have_testmode && _have_cmd ip; }

VETH=rdv$$

case_cleanup() {
	echo 0 >/sys/module/rdma_rxe/parameters/dma_test_mode 2>/dev/null
	ip link del "$VETH" 2>/dev/null
	true
}

test_case() {
	local out rc=0 name=rxe_n$$
	ip link add "$VETH" type veth peer name "${VETH}p" || fail "cannot create a veth pair" || return 1
	ip link set "$VETH" up
	echo 1 >/sys/module/rdma_rxe/parameters/dma_test_mode
	out=$(rdma link add "$name" type rxe netdev "$VETH" 2>&1) || rc=$?
	echo 0 >/sys/module/rdma_rxe/parameters/dma_test_mode
	echo "$out" | sed 's/^/#   /'
	if [ $rc -eq 0 ]; then
		rdma link delete "$name"
		fail "rdma link add succeeded on $VETH, which has no DMA-capable parent"
		return 1
	fi
	echo "$out" | grep -q 'No such device' || fail "expected ENODEV (No such device)" || return 1
	dmesg | grep -q "dma_test_mode: $VETH has no DMA capable parent" ||
		fail "no kernel message naming $VETH" || return 1
	[ ! -e "/sys/class/infiniband/$name" ] || fail "$name exists after the refusal"
}

# shellcheck shell=bash
DESCRIPTION="the refusal at map time, after every page was pinned (refusal before pinning switched off): EOPNOTSUPP, every page unpinned"

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_test_bin reg_mr && _have_testmode &&
		_have_gate || return 1
	# where every coherent mapping is refused: forced bouncing, and
	# (arm64) a non-coherent device, refused in the common map path
	[ "$(dma_config)" = noncoherent ] || _have_dma_config swiotlb || return 1
	have_umem_switch early_refusal || skip_because "kernel without the ib_umem/early_refusal test switch (CONFIG_INFINIBAND_UMEM_TEST)"
}

test_case() {
	local dev acq0 acq1 bad=0
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	umem_switch early_refusal N || return 1
	acq0=$(vmstat_get nr_foll_pin_acquired)
	RDMA_LATE_REFUSAL=1 reg_mr testmode "$dev" testmode -t late_refusal || bad=1
	acq1=$(vmstat_get nr_foll_pin_acquired)
	umem_switch early_refusal Y || bad=1
	# Second check, system-wide: the 20 registrations of 1024 pages really
	# pinned before they were refused (other activity only adds to it).
	info "nr_foll_pin_acquired grew by $((acq1 - acq0)) (20 x 1024 pages asked for)"
	if [ $((acq1 - acq0)) -ge 20480 ]; then
		subtest pinned-before-refusal ok
	else
		subtest pinned-before-refusal fail
		fail "the registrations were refused before pinning: the switch did not take"
		bad=1
	fi
	return $bad
}

# shellcheck shell=bash
DESCRIPTION="the userspace under test (installed or RDMA_CORE_BUILD) sees exactly EOPNOTSUPP where the kernel refuses test-mode rxe's user memory, and registers elsewhere"

# Independent of the C test programs: pyverbs of the userspace under test
# (Debian sid's python3-pyverbs in the sid guest) registers plain MRs on a
# test-mode rxe device; ibv_rc_pingpong and ib_write_bw of that userspace
# show what a user sees (printed, not judged: their texts differ between
# versions, see docs/rdma-core.md).

requires() {
	_have_root && _have_rxe && _have_uverbs && _have_testmode && _have_gate || return 1
	_have_cmd python3 ibv_rc_pingpong ib_write_bw || return 1
	pyverbs_env python3 -c 'import pyverbs.mr' 2>/dev/null ||
		skip_because "no pyverbs for the userspace under test (python3-pyverbs)"
}

pyverbs_env() {
	if [ -n "${RDMA_CORE_BUILD:-}" ]; then
		PYTHONPATH=$RDMA_CORE_BUILD/python "$@"
	else
		"$@"
	fi
}

test_case() {
	local dev want got gid out ip
	rxe_add dev "$(testmode_netdev)" testmode || return 1
	case $(mr_outcome testmode) in
	refuse) want=95 ;;
	success) want=0 ;;
	*) fail "no defined outcome where user memory bounces"; return 1 ;;
	esac
	got=$(pyverbs_env python3 - "$dev" <<-'PY'
		import sys
		import pyverbs.device as d
		from pyverbs.pyverbs_error import PyverbsRDMAError
		from pyverbs.mr import MR
		from pyverbs.pd import PD
		res = []
		with d.Context(name=sys.argv[1]) as ctx:
		    with PD(ctx) as pd:
		        for access in (1, 1 | 2 | 4):  # LOCAL_WRITE, + REMOTE_WRITE, REMOTE_READ
		            try:
		                MR(pd, 4096, access).close()
		                res.append(0)
		            except PyverbsRDMAError as ex:
		                res.append(ex.error_code)
		print(' '.join(map(str, sorted(set(res)))))
	PY
	) || { fail "pyverbs registration script failed"; return 1; }
	info "$dev ($(dma_config)): registration errno(s) '$got', expected '$want'"
	if [ "$got" = "$want" ]; then subtest errno ok; else subtest errno fail; fail "errno '$got', expected '$want'"; fi
	# What the tools of this userspace print where it is refused (not
	# judged); where it is not, they would wait for a client.
	[ "$want" = 95 ] || return 0
	gid=$(gid_index "$dev")
	out=$(timeout 20 ibv_rc_pingpong -d "$dev" -g "$gid" 2>&1 </dev/null)
	info "ibv_rc_pingpong as server: exit $?; it printed:"
	head -5 <<<"$out" | sed 's/^/#   /'
	# perftest registers only once its client has connected.
	ip=$(netdev_ip "$(testmode_netdev)")
	info "ib_write_bw, server and client (exit status not judged):"
	run_pair ib_write_bw ib_write_bw -d "$dev" -x "$gid" -F -n 5 -- \
		ib_write_bw -d "$dev" -x "$gid" -F -n 5 "$ip" || true
	[ "$got" = "$want" ]
}

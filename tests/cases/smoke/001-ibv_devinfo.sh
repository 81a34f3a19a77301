# shellcheck shell=bash
DESCRIPTION="ibv_devinfo lists a new rxe device with an active port"

requires() { _have_root && _have_rxe && _have_uverbs && _have_cmd ibv_devinfo; }

test_case() {
	local dev out
	rxe_add dev "$(rxe_netdev)" || return 1
	out=$(ibv_devinfo -d "$dev" -v) || fail "ibv_devinfo -d $dev exited $?" || return 1
	echo "$out" | sed 's/^/#   /' | head -40
	echo "$out" | grep -q "hca_id:[[:space:]]*$dev" || fail "$dev not listed" || return 1
	echo "$out" | grep -q 'PORT_ACTIVE' || fail "port of $dev not active" || return 1
	echo "$out" | grep -q 'transport:[[:space:]]*InfiniBand' || fail "unexpected transport" || return 1
}

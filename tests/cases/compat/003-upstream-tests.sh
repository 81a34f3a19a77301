# shellcheck shell=bash
DESCRIPTION="the installed rdma-core's own test_buf.py and test_mr.py (Debian's python3-pyverbs) on stock and test-mode rxe"
# Two modules on two devices; a few minutes under TCG.
TIMEOUT=900

# Upstream's tests as Debian packages them (python3-pyverbs puts them in
# /usr/share/doc/rdma-core/tests, compressed where large), run with the
# installed pyverbs and libibverbs: what a user of Debian's rdma-core gets
# on this kernel. test_buf.py (rdma-core 64 and later) has upstream's check
# of IBV_DEVICE_CC_DMA_BOUNCE.
UPSTREAM_TESTS=${UPSTREAM_TESTS:-/usr/share/doc/rdma-core/tests}

requires() {
	_have_root && _have_rxe && _have_uverbs || return 1
	[ -z "${RDMA_CORE_BUILD:-}" ] ||
		skip_because "runs the installed rdma-core, not an RDMA_CORE_BUILD" || return 1
	[ -f "$UPSTREAM_TESTS/run_tests.py" ] && ls "$UPSTREAM_TESTS"/test_buf.py* >/dev/null 2>&1 ||
		skip_because "rdma-core's tests with test_buf.py are not installed (python3-pyverbs of rdma-core 64 or later)"
}

check_dev() {
	local dev=$1 kind=$2 m log rc bad=0
	for m in test_buf test_mr; do
		log=$CASE_TMP/$m.$dev rc=0
		python3 "$CASE_TMP/tests/run_nodesc.py" --dev "$dev" -v "$m" >"$log" 2>&1 </dev/null || rc=$?
		sed 's/^/#   /' "$log"
		unittest_subtests "$kind.$m" "$log" || bad=1
		[ $rc -eq 0 ] || { fail "$m exited $rc on $dev"; bad=1; }
	done
	return $bad
}

test_case() {
	cp -r "$UPSTREAM_TESTS" "$CASE_TMP/tests" || return 1
	find "$CASE_TMP/tests" -name '*.gz' -exec gunzip -f {} + || return 1
	# run_tests.py, but without test descriptions: a docstring's first line
	# would put each result on a line of its own, where unittest_subtests
	# does not look for it.
	cat >"$CASE_TMP/tests/run_nodesc.py" <<-'PY'
		import os
		import sys
		import unittest
		from importlib.machinery import SourceFileLoader
		here = os.path.dirname(os.path.abspath(__file__))
		sys.path.insert(0, here)
		from args_parser import parser
		tests = SourceFileLoader('tests', os.path.join(here, '__init__.py')).load_module()
		parser.parse_args()
		unittest.main(module=tests, testRunner=unittest.TextTestRunner(verbosity=2, descriptions=False))
	PY
	info "rdma-core tests of $(dpkg-query -W -f='${Package} ${Version}' python3-pyverbs 2>/dev/null || echo 'an unknown package')"
	each_rxe check_dev
}

# shellcheck shell=bash
# Helpers that ci/bench.sh (on the host) and bench/guest-bench.sh (in the
# guest) share.

# bytes SIZE: a size as reg_bench takes it (4K, 2M, 1G or plain bytes), as
# a number of bytes.
bytes() {
	local n=${1%[KMG]}
	case $1 in *K) echo $((n << 10)) ;; *M) echo $((n << 20)) ;; *G) echo $((n << 30)) ;; *) echo "$n" ;; esac
}

# shellcheck shell=bash
# Common helpers for the ci/ scripts: logging with elapsed time, errors, paths.
# Sourced, never executed.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
KSRC=${KSRC:-$BUILD/linux}
KVER_WANT=6.12
RDMA_CORE_VER=56.1
RDMA_SRC=${RDMA_SRC:-$BUILD/rdma-core}
# Outside build/ and shared by every clone on this machine, so CI reuses it.
CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rdma-dma-ccache}
export CCACHE_DIR

_t0=${_t0:-$(date +%s)}
export _t0

# Prefix every progress line with the elapsed time since the top-level job began.
log() {
	local now
	now=$(date +%s)
	printf '[%4ds] %s\n' "$((now - _t0))" "$*" >&2
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# step NAME CMD...: run a step, report its duration, and fail loudly with the step name.
# At the top level of a set -e script a failed step ends the script. CMD runs
# inside a || list, where bash ignores set -e even in functions and
# subshells: a function run as a step must check the status of each command
# itself (cmd || return 1), or it goes on past a failure.
step() {
	local name=$1 s rc=0
	shift
	s=$(date +%s)
	log "== $name"
	"$@" || rc=$?
	if [ "$rc" -ne 0 ]; then
		log "== $name FAILED (exit $rc) after $(($(date +%s) - s))s"
		return "$rc"
	fi
	log "== $name done in $(($(date +%s) - s))s"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			die "'$c' not found; run 'make deps' (ci/deps.sh) first"
	done
}

# with_progress WHAT DIR LOGFILE CMD...: run CMD with its output in LOGFILE,
# and every PROGRESS_EVERY seconds (default 120) while it runs log WHAT with
# the number of objects it has written under DIR so far, so that a kernel
# build of many minutes is not silent. Returns CMD's status.
with_progress() {
	local what=$1 dir=$2 out=$3 every=${PROGRESS_EVERY:-120} rc=0 s0=$SECONDS next
	shift 3
	case $every in '' | *[!0-9]* | 0) die "PROGRESS_EVERY wants a number of seconds, got '$every'" ;; esac
	_wp_stamp=$(mktemp) || return 1
	_wp_traps=$(trap -p INT TERM)
	"$@" >"$out" 2>&1 &
	_wp_pid=$!
	# A command run in the background of a script ignores SIGINT, so
	# Ctrl-C would leave it building: stop it (make stops its jobs on
	# SIGTERM) and exit as the signal would have (EXIT traps still run).
	trap '_wp_stop 130' INT
	trap '_wp_stop 143' TERM
	next=$every
	while kill -0 "$_wp_pid" 2>/dev/null; do
		sleep 1
		[ $((SECONDS - s0)) -ge "$next" ] || continue
		next=$((next + every))
		log "$what: $((SECONDS - s0))s, $(find "$dir" -name '*.o' -newer "$_wp_stamp" 2>/dev/null | wc -l) objects written so far"
	done
	wait "$_wp_pid" || rc=$?
	trap - INT TERM
	eval "$_wp_traps"
	rm -f "$_wp_stamp"
	return "$rc"
}

_wp_stop() {
	kill -TERM "$_wp_pid" 2>/dev/null
	wait "$_wp_pid" 2>/dev/null
	rm -f "$_wp_stamp"
	exit "$1"
}

# Sequence kernel builds: two on 2 cores at once only slows both down. The
# lock is per machine, not per clone, so that builds from several clones or
# worktrees wait for each other too.
KBUILD_LOCK=${KBUILD_LOCK:-/tmp/rdma-dma-kernel-build.lock}
kbuild_lock() {
	exec 9>>"$KBUILD_LOCK"
	if ! flock -n 9; then
		log "another kernel build is running; waiting for it"
		flock 9
	fi
}

# The first non-security Debian mirror named in this machine's apt sources
# (read only, never changed): the private apt configurations under build/
# (rdma-core-source.sh, arm64-root.sh, sid-root.sh) derive their entries from it.
mirror_uri() {
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			# deb822: print "URI suites" per stanza
			awk 'BEGIN{RS=""} {u="";s="";
				for(i=1;i<=NF;i++){ if($i=="URIs:")u=$(i+1); if($i=="Suites:")s=$(i+1) }
				if(u!="") print u, s}' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			sed -nE 's/^deb(-src)?[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+).*/\3 \4/p' "$f"
		done
	} | awk '$2 !~ /security/ && $1 ~ /debian\/?$/ {print $1; exit}'
}

# debian_cloud_config: print the path of Debian's own configuration for the
# kernel cloud and confidential-computing guests run (config.amd64_none_
# cloud-amd64.xz from linux-config-6.12), fetched once with apt-get download
# into build/deb/dl (apt checks it against the signed index). make deb
# builds from it, and so do the bench kernels
# (ci/kernel-build.sh --release).
debian_cloud_config() {
	local dl=$BUILD/deb/dl dir=$BUILD/deb/config cfgdeb cloud
	cloud=$dir/usr/src/linux-config-6.12/config.amd64_none_cloud-amd64.xz
	need_cmd apt-get dpkg-deb
	mkdir -p "$dl"
	cfgdeb=$(find "$dl" -maxdepth 1 -name 'linux-config-6.12_*.deb' | sort | tail -1)
	if [ -z "$cfgdeb" ]; then
		log "downloading linux-config-6.12 (Debian's kernel configurations)"
		(cd "$dl" && apt-get download -q -o APT::Sandbox::User=root linux-config-6.12 >&2) ||
			die "apt-get download linux-config-6.12 failed (is it in this machine's apt sources?)"
		cfgdeb=$(find "$dl" -maxdepth 1 -name 'linux-config-6.12_*.deb' | sort | tail -1)
	fi
	if [ "$(cat "$dir/.from" 2>/dev/null)" != "${cfgdeb##*/}" ]; then
		rm -rf "$dir"
		dpkg-deb -x "$cfgdeb" "$dir" || die "cannot unpack $cfgdeb"
		echo "${cfgdeb##*/}" >"$dir/.from"
	fi
	[ -f "$cloud" ] || die "$cfgdeb has no config.amd64_none_cloud-amd64"
	echo "$cloud"
}

# series_hash DIR: one hash over DIR/series and every patch it lists, so a
# change to any of them is noticed.
series_hash() {
	(
		cd "$1"
		cat series
		sed -e '/^#/d' -e '/^$/d' series | while read -r p; do
			[ -f "$p" ] || die "$1/series lists $p, which does not exist"
			sha256sum "$p"
		done
	) | sha256sum | cut -d' ' -f1
}

# prepare_all [KERNEL-BUILD-OPTION...]: every step up to a bootable kernel,
# rdma-core and the test programs, each timed; the options go to
# kernel-build.sh (check.sh passes --w1). Shared by run.sh, check.sh and others.
prepare_all() {
	step "dependencies" "$TOP/ci/deps.sh"
	step "kernel source" "$TOP/ci/kernel-source.sh"
	step "rdma-core source" "$TOP/ci/rdma-core-source.sh"
	step "kernel build" "$TOP/ci/kernel-build.sh" "$@"
	step "rdma-core build" "$TOP/ci/rdma-core-build.sh"
	step "test programs" make -s -C "$TOP/tests" RDMA_CORE_BUILD="$RDMA_SRC/build"
}

# fresh_reuse: set the array reuse to the tests/vm/matrix.sh option that
# FRESH asks for: a guest whose last run passed with byte-identical inputs
# is not booted again unless FRESH=1.
fresh_reuse() {
	case ${FRESH:-0} in
	0 | '') reuse=(--reuse) ;;
	1) reuse=() ;;
	*) die "FRESH wants 0 or 1, got '$FRESH'" ;;
	esac
}

# write_apt_conf DIR [LINE...]: DIR/apt.conf for a private apt configuration
# whose sources, lists and cache all live in DIR (the machine's own apt
# setup is never touched), plus the extra LINEs; prints nothing.
write_apt_conf() {
	local d=$1
	shift
	{
		printf 'Dir::Etc::SourceList "%s/sources.list";\n' "$d"
		printf 'Dir::Etc::SourceParts "%s/sources.list.d";\n' "$d"
		printf 'Dir::State::Lists "%s/lists";\n' "$d"
		printf 'Dir::Cache "%s/cache";\n' "$d"
		echo 'APT::Sandbox::User "root";'
		printf '%s\n' "$@"
	} >"$d/apt.conf"
}

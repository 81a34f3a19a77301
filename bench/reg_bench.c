// SPDX-License-Identifier: GPL-2.0
/*
 * reg_bench: time ibv_reg_mr and ibv_dereg_mr, or a refused ibv_reg_mr, for
 * a list of sizes. One CSV line per repetition on stdout:
 *
 *   reg,<label>,<bytes>,<rep>,<reg_ns>,<dereg_ns>,<iterations>
 *
 * A repetition is the mean of enough back-to-back registrations to last at
 * least -m milliseconds (one for large sizes, hundreds for 4 KiB), so that
 * clock and scheduling noise do not swamp the short ones. Every successful
 * repetition gets a new buffer, faulted in before timing; one untimed
 * warm-up registration precedes the first. dereg_ns is empty for a refused
 * registration.
 *
 *   reg_bench -d DEV -s 4K,64K,2M -r 5 [-m MS] [-x ok|refused] [-l LABEL]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "../tests/rdma_test.h"

#define ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		IBV_ACCESS_REMOTE_READ)
#define MAX_SIZES 16
#define MAX_REPS 1000
#define MAX_ITERS 100000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* "4K", "2M", "1G" or plain bytes; 0 on anything else. */
static size_t parse_size(const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || v == 0)
		return 0;
	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	}
	if (*end || v > (1ull << 40))
		return 0;
	return v;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s -d DEV -s SIZE[,SIZE...] -r REPS [-m MS] [-x ok|refused] [-c CPU] [-l LABEL]\n"
		"  SIZE: bytes with an optional K, M or G suffix\n"
		"  MS:   least duration of one repetition (default 50)\n", prog);
	exit(2);
}

/* One timed registration; returns 0 when it behaved as expected. */
static int one(struct ibv_pd *pd, void *buf, size_t len, int refused,
	       uint64_t *reg_ns, uint64_t *dereg_ns)
{
	struct ibv_mr *mr;
	uint64_t t0, t1;

	t0 = now_ns();
	mr = ibv_reg_mr(pd, buf, len, ACCESS);
	t1 = now_ns();
	*reg_ns = t1 - t0;
	if (refused) {
		if (mr) {
			fprintf(stderr, "reg_bench: %zu bytes registered, expected a refusal\n", len);
			ibv_dereg_mr(mr);
			return -1;
		}
		if (errno != EOPNOTSUPP) {
			fprintf(stderr, "reg_bench: %zu bytes refused with %s, expected EOPNOTSUPP\n",
				len, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (!mr) {
		fprintf(stderr, "reg_bench: ibv_reg_mr of %zu bytes failed: %s\n", len, strerror(errno));
		return -1;
	}
	t0 = now_ns();
	if (ibv_dereg_mr(mr)) {
		fprintf(stderr, "reg_bench: ibv_dereg_mr failed: %s\n", strerror(errno));
		return -1;
	}
	*dereg_ns = now_ns() - t0;
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *label = "run";
	size_t sizes[MAX_SIZES];
	int nsizes = 0, reps = 0, refused = 0, cpu = -1, min_ms = 50, opt, i, r, rc = 0;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char *tok, *save;

	while ((opt = getopt(argc, argv, "d:s:r:m:x:c:l:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 's':
			for (tok = strtok_r(optarg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (nsizes == MAX_SIZES || !(sizes[nsizes] = parse_size(tok))) {
					fprintf(stderr, "reg_bench: bad size '%s' (at most %d sizes)\n",
						tok, MAX_SIZES);
					return 2;
				}
				nsizes++;
			}
			break;
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAX_REPS) {
				fprintf(stderr, "reg_bench: -r wants 1..%d, got '%s'\n", MAX_REPS, optarg);
				return 2;
			}
			break;
		case 'm':
			min_ms = atoi(optarg);
			if (min_ms < 0 || min_ms > 60000) {
				fprintf(stderr, "reg_bench: -m wants 0..60000 ms, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'x':
			if (!strcmp(optarg, "refused"))
				refused = 1;
			else if (strcmp(optarg, "ok"))
				usage(argv[0]);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'l':
			label = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!dev || !nsizes || !reps || optind != argc)
		usage(argv[0]);

	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			fprintf(stderr, "reg_bench: cannot pin to CPU %d: %s (continuing unpinned)\n",
				cpu, strerror(errno));
	}

	ctx = open_device_by_name(dev);
	if (!ctx) {
		fprintf(stderr, "reg_bench: cannot open RDMA device '%s'\n", dev);
		return 1;
	}
	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		fprintf(stderr, "reg_bench: ibv_alloc_pd: %s\n", strerror(errno));
		ibv_close_device(ctx);
		return 1;
	}

	for (i = 0; i < nsizes && !rc; i++) {
		uint64_t reg_ns, dereg_ns = 0, sum_reg, sum_dereg;
		long iters = 0, k;
		void *buf;

		buf = MAP_FAILED;
		for (r = 0; r < reps && !rc; r++) {
			/*
			 * A new buffer for every successful repetition: what a
			 * registration costs depends on how physically
			 * contiguous the pages are, so one buffer would measure
			 * one layout only. A refusal never looks at the pages;
			 * there one buffer serves all repetitions.
			 */
			if (buf == MAP_FAILED)
				buf = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			if (buf == MAP_FAILED) {
				fprintf(stderr, "reg_bench: mmap of %zu bytes: %s\n",
					sizes[i], strerror(errno));
				rc = 1;
				break;
			}
			/*
			 * MAP_POPULATE faulted every page in. The first
			 * repetition of a size warms up caches and lazy
			 * allocations and calibrates the iteration count.
			 */
			if (!iters) {
				rc = one(pd, buf, sizes[i], refused, &reg_ns, &dereg_ns);
				iters = (uint64_t)min_ms * 1000000 / (reg_ns + dereg_ns + 1);
				iters = iters < 1 ? 1 : iters > MAX_ITERS ? MAX_ITERS : iters;
			}
			sum_reg = sum_dereg = 0;
			for (k = 0; k < iters && !rc; k++) {
				rc = one(pd, buf, sizes[i], refused, &reg_ns, &dereg_ns);
				sum_reg += reg_ns;
				sum_dereg += dereg_ns;
			}
			if (!refused || rc || r == reps - 1) {
				munmap(buf, sizes[i]);
				buf = MAP_FAILED;
			}
			if (rc)
				break;
			if (refused)
				printf("reg,%s,%zu,%d,%llu,,%ld\n", label, sizes[i], r,
				       (unsigned long long)(sum_reg / iters), iters);
			else
				printf("reg,%s,%zu,%d,%llu,%llu,%ld\n", label, sizes[i], r,
				       (unsigned long long)(sum_reg / iters),
				       (unsigned long long)(sum_dereg / iters), iters);
			fflush(stdout);
		}
	}

	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return rc;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * regtime: register SIZE bytes on an RDMA device REPS times and print one
 * line that says what happened and how long it took, for `make run`:
 *
 *   regtime DEV SIZE REPS
 *   size=<bytes> errno=<0 when registered> median_us=<t> vmpin_kb=<after>
 *
 * SIZE takes K, M and G suffixes. A registered MR is deregistered at once.
 * The buffer is mapped but not touched: a registration pins (and so faults
 * in) every page itself, and a refusal made before pinning never looks at
 * them. vmpin_kb is the process's VmPin once every MR is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "rdma_test.h"

#define ACC (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define MAX_REPS 101

static size_t parse_size(const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || !v)
		return 0;
	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	}
	return *end || v > (1ULL << 40) ? 0 : v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	double t[MAX_REPS];
	struct ibv_context *ctx;
	struct timespec a, b;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	int reps, i, err = 0;
	size_t size;
	char *buf;

	if (argc != 4 || !(size = parse_size(argv[2])) ||
	    (reps = atoi(argv[3])) < 1 || reps > MAX_REPS) {
		fprintf(stderr, "usage: regtime DEV SIZE[K|M|G] REPS (1..%d)\n", MAX_REPS);
		return 2;
	}
	ctx = open_device_by_name(argv[1]);
	if (!ctx) {
		fprintf(stderr, "regtime: no RDMA device %s\n", argv[1]);
		return 2;
	}
	pd = ibv_alloc_pd(ctx);
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!pd || buf == MAP_FAILED) {
		fprintf(stderr, "regtime: cannot set up: %s\n", strerror(errno));
		return 2;
	}
	for (i = 0; i < reps; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		errno = 0;
		mr = ibv_reg_mr(pd, buf, size, ACC);
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
		if (mr) {
			if (ibv_dereg_mr(mr)) {
				fprintf(stderr, "regtime: dereg_mr: %s\n", strerror(errno));
				return 2;
			}
		} else if (!err) {
			err = errno;
		} else if (errno != err) {
			fprintf(stderr, "regtime: errno %d, then %d\n", err, errno);
			return 2;
		}
		if (mr && err) {
			fprintf(stderr, "regtime: registered after a refusal\n");
			return 2;
		}
	}
	qsort(t, reps, sizeof(t[0]), cmp);
	printf("size=%zu errno=%d median_us=%.1f vmpin_kb=%ld\n", size, err, t[reps / 2],
	       vm_pin_kb());
	munmap(buf, size);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return 0;
}

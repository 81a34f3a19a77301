// SPDX-License-Identifier: GPL-2.0
/*
 * reg_bench: time ibv_reg_mr and ibv_dereg_mr, or a refused ibv_reg_mr, for
 * a list of sizes. One CSV line per repetition on stdout:
 *
 *   reg,<label>,<bytes>,<rep>,<reg_ns>,<dereg_ns>,<iterations>,<huge_kb>,<runs>,
 *       <reg_median_ns>,<dereg_median_ns>
 *
 * A repetition is enough back-to-back registrations to last at least -m
 * milliseconds (one for large sizes, thousands for 4 KiB). reg_ns and
 * dereg_ns are their mean, the *_median_ns their median: a mean also takes
 * in whatever else ran meanwhile (a tick, an RCU callback, and under QEMU's
 * instruction counting any instruction the other vCPU executed, since that
 * clock is shared), the median is what a typical call cost. Every
 * successful repetition gets a new buffer, faulted in before timing; one
 * untimed registration of each size calibrates the count. The dereg
 * columns are empty for a refused registration.
 *
 * Before the first size, -w registrations of 4 KiB (default 5000) run
 * untimed. rxe hands out MR indices cyclically from an xarray, so the
 * first 4,096 registrations on a new device take a shorter path than all
 * later ones (counted: 15.6 against 27.4 us at 4 KiB). Without the
 * warm-up the first repetitions of the first size measured that other
 * path, and two kernels' samples mixed both.
 *
 * -p says how the buffer is backed. "4k" (the default) asks for no
 * transparent huge pages (MADV_NOHUGEPAGE): pinning then costs the same
 * per page whatever the kernel's THP setting and however many free 2 MiB
 * blocks a boot happens to have, so two kernels compare like for like.
 * "huge" asks for them (MADV_HUGEPAGE); the kernel may still give fewer.
 * huge_kb is how much of the buffer THP backed (AnonHugePages in
 * /proc/self/smaps_rollup, read after faulting it in; one buffer is alive
 * at a time), so every line says which case it measured.
 *
 * runs is how many physically contiguous runs the buffer's pages form
 * (from /proc/self/pagemap, which gives page frame numbers to root only;
 * -1 when it cannot be read): the number of scatterlist segments the
 * kernel builds for it before splitting long ones. The cost of mapping
 * and of walking the pages' metadata follows it, and it changes from one
 * buffer to the next as the page allocator hands out pages.
 *
 *   reg_bench -d DEV -s 4K,64K,2M -r 5 [-m MS] [-w N] [-x ok|refused] [-p 4k|huge] [-l LABEL]
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
#define MAX_WARMUP 1000000

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
		"usage: %s -d DEV -s SIZE[,SIZE...] -r REPS [-m MS] [-w N] [-x ok|refused] [-p 4k|huge] [-c CPU] [-l LABEL]\n"
		"  SIZE: bytes with an optional K, M or G suffix\n"
		"  -p:   buffers backed by 4 KiB pages only (4k, the default) or by\n"
		"        transparent huge pages where the kernel gives them (huge)\n"
		"  MS:   least duration of one repetition (default 50)\n"
		"  -w:   untimed 4 KiB registrations before the first size (default 5000)\n", prog);
	exit(2);
}

/*
 * A buffer of len bytes, backed as -p asked and faulted in. Without THP in
 * the kernel, madvise() fails with EINVAL: harmless for "4k", an error for
 * "huge".
 */
static void *new_buffer(size_t len, int huge)
{
	void *buf;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "reg_bench: mmap of %zu bytes: %s\n", len, strerror(errno));
		return NULL;
	}
	if (madvise(buf, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) &&
	    (huge || errno != EINVAL)) {
		fprintf(stderr, "reg_bench: madvise(%s) of %zu bytes: %s\n",
			huge ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE", len, strerror(errno));
		goto err;
	}
	if (madvise(buf, len, MADV_POPULATE_WRITE)) {
		fprintf(stderr, "reg_bench: faulting in %zu bytes: %s\n", len, strerror(errno));
		goto err;
	}
	return buf;
err:
	munmap(buf, len);
	return NULL;
}

/* AnonHugePages of this process in KiB, or -1 if it cannot be read. */
static long huge_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * How many runs of physically consecutive pages back buf, or -1 when the
 * page frame numbers cannot be read (not root, or no pagemap).
 */
static long phys_runs(void *buf, size_t len)
{
	size_t pages = len / 4096, i, n;
	uint64_t ent[512], prev = 0;
	long runs = 0;
	FILE *f;

	f = fopen("/proc/self/pagemap", "r");
	if (!f)
		return -1;
	if (fseeko(f, (off_t)((uintptr_t)buf / 4096) * 8, SEEK_SET))
		goto err;
	for (i = 0; i < pages; i += n) {
		size_t j;

		n = pages - i < 512 ? pages - i : 512;
		if (fread(ent, 8, n, f) != n)
			goto err;
		for (j = 0; j < n; j++) {
			/* bit 63: present; bits 0-54: the frame, 0 if hidden */
			uint64_t pfn = ent[j] & ((1ull << 55) - 1);

			if (!(ent[j] >> 63) || !pfn)
				goto err;
			if (i + j == 0 || pfn != prev + 1)
				runs++;
			prev = pfn;
		}
	}
	fclose(f);
	return runs;
err:
	fclose(f);
	return -1;
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of n samples (n >= 1); sorts them. */
static uint64_t median(uint64_t *v, long n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* n untimed registrations of one 4 KiB buffer, expecting what -x says. */
static int warm_up(struct ibv_pd *pd, long n, int refused, int huge)
{
	uint64_t reg_ns, dereg_ns;
	void *buf;
	long k;
	int rc = 0;

	if (!n)
		return 0;
	buf = new_buffer(4096, huge);
	if (!buf)
		return 1;
	for (k = 0; k < n && !rc; k++)
		rc = one(pd, buf, 4096, refused, &reg_ns, &dereg_ns);
	munmap(buf, 4096);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *label = "run";
	size_t sizes[MAX_SIZES];
	int nsizes = 0, reps = 0, refused = 0, huge = 0, cpu = -1, min_ms = 50, opt, i, r, rc = 0;
	long warm = 5000;
	uint64_t *t_reg, *t_dereg;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char *tok, *save;

	while ((opt = getopt(argc, argv, "d:s:r:m:w:x:p:c:l:")) != -1) {
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
		case 'w': {
			char *end;

			errno = 0;
			warm = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || warm < 0 || warm > MAX_WARMUP) {
				fprintf(stderr, "reg_bench: -w wants 0..%d, got '%s'\n", MAX_WARMUP, optarg);
				return 2;
			}
			break;
		}
		case 'x':
			if (!strcmp(optarg, "refused"))
				refused = 1;
			else if (strcmp(optarg, "ok"))
				usage(argv[0]);
			break;
		case 'p':
			if (!strcmp(optarg, "huge"))
				huge = 1;
			else if (strcmp(optarg, "4k"))
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

	t_reg = calloc(MAX_ITERS, sizeof(*t_reg));
	t_dereg = calloc(MAX_ITERS, sizeof(*t_dereg));
	if (!t_reg || !t_dereg) {
		fprintf(stderr, "reg_bench: out of memory\n");
		rc = 1;
	} else {
		rc = warm_up(pd, warm, refused, huge);
	}

	for (i = 0; i < nsizes && !rc; i++) {
		uint64_t reg_ns, dereg_ns = 0, sum_reg, sum_dereg;
		long iters = 0, k, hkb = -1, runs = -1;
		void *buf;

		buf = NULL;
		for (r = 0; r < reps && !rc; r++) {
			/*
			 * A new buffer for every successful repetition: what a
			 * registration costs depends on how physically
			 * contiguous the pages are, so one buffer would measure
			 * one layout only. A refusal never looks at the pages;
			 * there one buffer serves all repetitions.
			 */
			if (!buf) {
				buf = new_buffer(sizes[i], huge);
				if (!buf) {
					rc = 1;
					break;
				}
				hkb = huge_kb();
				runs = phys_runs(buf, sizes[i]);
			}
			/*
			 * The first repetition of a size warms up caches and
			 * lazy allocations and calibrates the iteration count.
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
				t_reg[k] = reg_ns;
				t_dereg[k] = dereg_ns;
			}
			if (!refused || rc || r == reps - 1) {
				munmap(buf, sizes[i]);
				buf = NULL;
			}
			if (rc)
				break;
			if (refused)
				printf("reg,%s,%zu,%d,%llu,,%ld,%ld,%ld,%llu,\n", label, sizes[i], r,
				       (unsigned long long)(sum_reg / iters), iters, hkb, runs,
				       (unsigned long long)median(t_reg, iters));
			else
				printf("reg,%s,%zu,%d,%llu,%llu,%ld,%ld,%ld,%llu,%llu\n", label, sizes[i], r,
				       (unsigned long long)(sum_reg / iters),
				       (unsigned long long)(sum_dereg / iters), iters, hkb, runs,
				       (unsigned long long)median(t_reg, iters),
				       (unsigned long long)median(t_dereg, iters));
			fflush(stdout);
		}
	}

	free(t_reg);
	free(t_dereg);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return rc;
}

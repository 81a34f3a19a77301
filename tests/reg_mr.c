// SPDX-License-Identifier: GPL-2.0
/*
 * User memory registration against the coherent-DMA gate.
 *
 * The device under test is RDMA_DEV (an rxe device the calling case made);
 * RDMA_EXPECT says what the kernel must do with plain user MRs on it:
 * "success" (coherent or virtual DMA) or "refuse" (bounce or non-coherent).
 * Every expectation is asserted, including the exact errno of a refusal and
 * that a refusal leaves no pinned page and no SWIOTLB slot behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <rdma/ib_user_verbs.h>

#include "kselftest_harness.h"
#include "rdma_test.h"

#ifndef IBV_DEVICE_CC_DMA_BOUNCE
#define IBV_DEVICE_CC_DMA_BOUNCE (1ULL << 41)
#endif

/* Assert that @call returned NULL with exactly @expected in errno. */
#define EXPECT_NULL_ERRNO(expected, call) do {				\
		void *__p;						\
		errno = 0;						\
		__p = (void *)(call);					\
		EXPECT_EQ(NULL, __p);					\
		EXPECT_EQ(expected, errno) {				\
			TH_LOG("errno %d (%s), expected %d (%s)", errno,	\
			       strerror(errno), expected, strerror(expected)); \
		}							\
		if (__p)						\
			ibv_dereg_mr((struct ibv_mr *)__p);		\
	} while (0)

/* Assert that @call returned -1 with exactly @expected in errno. */
#define EXPECT_FAIL_ERRNO(expected, call) do {				\
		long __r;						\
		errno = 0;						\
		__r = (long)(call);					\
		EXPECT_EQ(-1, __r);					\
		EXPECT_EQ(expected, errno) {				\
			TH_LOG("errno %d (%s), expected %d (%s)", errno,	\
			       strerror(errno), expected, strerror(expected)); \
		}							\
	} while (0)

#define SZ_4K	(4096UL)
#define SZ_1G	(1UL << 30)

static long read_counter(const char *path, const char *key)
{
	char name[64];
	long val = -1, v;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!key) {
		if (fscanf(f, "%ld", &val) != 1)
			val = -1;
		fclose(f);
		return val;
	}
	while (fscanf(f, "%63s %ld", name, &v) == 2) {
		if (!strcmp(name, key)) {
			val = v;
			break;
		}
	}
	fclose(f);
	return val;
}

static long pins_outstanding(void)
{
	return read_counter("/proc/vmstat", "nr_foll_pin_acquired") -
	       read_counter("/proc/vmstat", "nr_foll_pin_released");
}

/*
 * Unpinning can trail the verb that caused it (deferred object release, and
 * unrelated 9p I/O moves the same counters), so give the counter a few
 * seconds to come back before calling it a leak.
 */
static long pins_settle(long baseline)
{
	long now = pins_outstanding();
	int i;

	for (i = 0; i < 50 && now != baseline; i++) {
		usleep(100000);
		now = pins_outstanding();
	}
	return now;
}

static long swiotlb_used(void)
{
	return read_counter("/sys/kernel/debug/swiotlb/io_tlb_used", NULL);
}

/*
 * Legacy uverbs write() commands, issued by hand on the context's command
 * fd. They take a bare handle, so a test can name an object libibverbs has
 * already freed: calling libibverbs on the freed struct would be undefined
 * behaviour. Both return 0, or -1 with the kernel's errno.
 */
static int raw_dereg_mr(struct ibv_context *ctx, uint32_t mr_handle)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_dereg_mr cmd;
	} req = {
		.hdr.command = IB_USER_VERBS_CMD_DEREG_MR,
		.hdr.in_words = sizeof(req) / 4,
		.cmd.mr_handle = mr_handle,
	};

	return write(ctx->cmd_fd, &req, sizeof(req)) == sizeof(req) ? 0 : -1;
}

static int raw_reg_mr(struct ibv_context *ctx, uint32_t pd_handle, void *addr,
		      size_t len, int access, uint32_t *mr_handle)
{
	struct ib_uverbs_reg_mr_resp resp = {};
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_reg_mr cmd;
	} req = {
		.hdr.command = IB_USER_VERBS_CMD_REG_MR,
		.hdr.in_words = sizeof(req) / 4,
		.hdr.out_words = sizeof(resp) / 4,
		.cmd.response = (uintptr_t)&resp,
		.cmd.start = (uintptr_t)addr,
		.cmd.length = len,
		.cmd.hca_va = (uintptr_t)addr,
		.cmd.pd_handle = pd_handle,
		.cmd.access_flags = access,
	};

	if (write(ctx->cmd_fd, &req, sizeof(req)) != sizeof(req))
		return -1;
	*mr_handle = resp.mr_handle;
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

FIXTURE(mr) {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char *buf;		/* one page, touched */
	int refuse;		/* RDMA_EXPECT=refuse */
	char dev[64];
};

FIXTURE_SETUP(mr)
{
	const char *want = getenv("RDMA_DEV");
	const char *expect = getenv("RDMA_EXPECT");

	self->ctx = NULL;
	self->pd = NULL;
	self->buf = MAP_FAILED;
	if (!want || !expect)
		SKIP(return, "RDMA_DEV and RDMA_EXPECT must name the device and the expected outcome");
	if (strcmp(expect, "success") && strcmp(expect, "refuse"))
		SKIP(return, "RDMA_EXPECT must be success or refuse, not '%s'", expect);
	self->refuse = !strcmp(expect, "refuse");
	snprintf(self->dev, sizeof(self->dev), "%s", want);

	self->ctx = open_device_by_name(want);
	/* The calling case created it: not finding it is a failure. */
	ASSERT_NE(NULL, self->ctx) TH_LOG("RDMA device %s not found or cannot be opened", want);
	self->pd = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, self->pd);
	self->buf = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, 0x5a, SZ_4K);
}

FIXTURE_TEARDOWN(mr)
{
	if (self->buf != MAP_FAILED)
		munmap(self->buf, SZ_4K);
	if (self->pd)
		ibv_dealloc_pd(self->pd);
	if (self->ctx)
		ibv_close_device(self->ctx);
}

#define ACC (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

/* The capability bit and the sysfs word agree with the expected outcome. */
TEST_F(mr, capability_agrees)
{
	struct ibv_device_attr_ex attr = {};
	char path[256], word[32] = "";
	FILE *f;

	ASSERT_EQ(0, ibv_query_device_ex(self->ctx, NULL, &attr));
	EXPECT_EQ(self->refuse, !!(attr.device_cap_flags_ex & IBV_DEVICE_CC_DMA_BOUNCE));

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/dma_coherence", self->dev);
	f = fopen(path, "r");
	if (!f)
		SKIP(return, "kernel without %s (unpatched)", path);
	ASSERT_EQ(1, fscanf(f, "%31s", word));
	fclose(f);
	TH_LOG("%s: dma_coherence=%s", self->dev, word);
	/* Refusal is certain exactly when the word is neither of these. */
	EXPECT_EQ(self->refuse, strcmp(word, "coherent") && strcmp(word, "virtual"));
}

/* reg_mr, reg_mr_iova and rereg_mr all give the expected outcome. */
TEST_F(mr, register_verbs)
{
	struct ibv_mr *mr, *mr2;
	struct ibv_pd *pd2;
	int rc;

	if (self->refuse) {
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC));
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr_iova(self->pd, self->buf, SZ_4K,
							      0x10000, ACC));
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, self->buf, SZ_4K,
							 IBV_ACCESS_LOCAL_WRITE));
		return;
	}
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	pd2 = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, pd2);
	mr2 = ibv_reg_mr_iova(self->pd, self->buf, SZ_4K, 0x10000, ACC);
	ASSERT_NE(NULL, mr2) TH_LOG("reg_mr_iova: %s", strerror(errno));
	EXPECT_EQ(0, ibv_dereg_mr(mr2));
	rc = ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_PD, pd2, NULL, 0, 0);
	if (rc && errno == EOPNOTSUPP) {
		/* Not the gate: the provider has no rereg_mr at all. */
		EXPECT_EQ(0, ibv_dereg_mr(mr));
		EXPECT_EQ(0, ibv_dealloc_pd(pd2));
		SKIP(return, "reg_mr, reg_mr_iova, dereg_mr pass; the %s provider has no rereg_mr",
		     self->dev);
	}
	EXPECT_EQ(0, rc) TH_LOG("rereg_mr (pd): %s", strerror(errno));
	EXPECT_EQ(0, ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_TRANSLATION, NULL,
				  self->buf, SZ_4K / 2, ACC))
		TH_LOG("rereg_mr (translation): %s", strerror(errno));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(0, ibv_dealloc_pd(pd2));
}

/*
 * A refusal costs the same whatever the size: the kernel must not pin 1 GiB
 * to find out what it knew in advance. A regression guard with a generous
 * bound, not a benchmark: medians from this one run, as a ratio.
 */
TEST_F(mr, refusal_time_flat)
{
	double t4k[41], t1g[9], r;
	char *big;
	int i, j;

	if (!self->refuse)
		SKIP(return, "the device accepts user memory");
	big = mmap(NULL, SZ_1G, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, big);
	/*
	 * Interleaved, so that a stretch in which the host runs something
	 * else slows both sizes alike instead of only the one measured then.
	 */
	for (i = 0, j = 0; i < 41; i++) {
		t4k[i] = now_us();
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC));
		t4k[i] = now_us() - t4k[i];
		if (i % 4 != 1 || j >= 9)
			continue;
		t1g[j] = now_us();
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, big, SZ_1G, ACC));
		t1g[j] = now_us() - t1g[j];
		j++;
	}
	ASSERT_EQ(9, j);
	munmap(big, SZ_1G);
	qsort(t4k, 41, sizeof(double), cmp_double);
	qsort(t1g, 9, sizeof(double), cmp_double);
	r = t1g[4] / t4k[20];
	TH_LOG("refusal median: 4 KiB %.1f us, 1 GiB %.1f us, ratio %.2f", t4k[20], t1g[4], r);
	EXPECT_LT(r, 10.0);
}

/* 10,000 refusals leave no pinned page and no SWIOTLB slot behind. */
TEST_F_TIMEOUT(mr, refusal_leaks_nothing, 600)
{
	long pins0, tlb0;
	int i;

	if (!self->refuse)
		SKIP(return, "the device accepts user memory");
	pins0 = pins_outstanding();
	tlb0 = swiotlb_used();
	for (i = 0; i < 10000; i++) {
		struct ibv_mr *mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);

		if (mr || errno != EOPNOTSUPP) {
			TH_LOG("iteration %d: mr %p errno %d", i, mr, errno);
			if (mr)
				ibv_dereg_mr(mr);
			ASSERT_TRUE(0);
		}
	}
	EXPECT_EQ(pins0, pins_settle(pins0));
	EXPECT_EQ(tlb0, swiotlb_used());
}

/* 10,000 successful reg/dereg cycles leave nothing pinned or mapped. */
TEST_F_TIMEOUT(mr, success_cycles_leak_nothing, 600)
{
	long pins0, tlb0;
	int i;

	if (self->refuse)
		SKIP(return, "the device refuses user memory");
	pins0 = pins_outstanding();
	tlb0 = swiotlb_used();
	for (i = 0; i < 10000; i++) {
		struct ibv_mr *mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);

		ASSERT_NE(NULL, mr) TH_LOG("iteration %d: errno %d", i, errno);
		ASSERT_EQ(0, ibv_dereg_mr(mr));
	}
	EXPECT_EQ(pins0, pins_settle(pins0));
	EXPECT_EQ(tlb0, swiotlb_used());
}

/*
 * Several MRs over one page are normal RDMA practice; dma-debug must not
 * call them overlapping-cacheline errors (the runner also checks the log).
 */
TEST_F(mr, overlapping_mrs)
{
	struct ibv_mr *mrs[8];
	long err0;
	int i;

	if (self->refuse)
		SKIP(return, "the device refuses user memory");
	err0 = read_counter("/sys/kernel/debug/dma-api/error_count", NULL);
	for (i = 0; i < 8; i++) {
		mrs[i] = ibv_reg_mr(self->pd, self->buf + i * 64, 64, ACC);
		ASSERT_NE(NULL, mrs[i]);
	}
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0, ibv_dereg_mr(mrs[i]));
	EXPECT_EQ(err0, read_counter("/sys/kernel/debug/dma-api/error_count", NULL));
}

/*
 * Bad input gets its own errno, never the refusal's, and leaves nothing
 * pinned. Run where registration works, so that every errno below comes
 * from input validation rather than from the gate.
 */
TEST_F(mr, bad_input)
{
	long pins0 = pins_outstanding();
	char *ro, *hole;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; bad input is checked where it accepts it");
	EXPECT_NULL_ERRNO(EFAULT, ibv_reg_mr(self->pd, NULL, SZ_4K, ACC));
	EXPECT_NULL_ERRNO(EINVAL, ibv_reg_mr(self->pd, self->buf, 0, ACC));
	EXPECT_NULL_ERRNO(EINVAL, ibv_reg_mr(self->pd, (void *)(UINTPTR_MAX - SZ_4K + 1),
					     2 * SZ_4K, ACC));
	EXPECT_NULL_ERRNO(EINVAL, ibv_reg_mr(self->pd, self->buf, SZ_4K, 1 << 30));

	/* An address range with nothing mapped in it. */
	hole = mmap(NULL, 4 * SZ_4K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	munmap(hole, 4 * SZ_4K);
	EXPECT_NULL_ERRNO(EFAULT, ibv_reg_mr(self->pd, hole, 4 * SZ_4K, ACC));

	/* Read-only memory cannot be a target of remote writes. */
	ro = mmap(NULL, SZ_4K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_NULL_ERRNO(EFAULT, ibv_reg_mr(self->pd, ro, SZ_4K, ACC));
	munmap(ro, SZ_4K);

	EXPECT_EQ(pins0, pins_settle(pins0));
}

/*
 * Deregistering an MR twice: the second dereg_mr, sent raw with the saved
 * handle, fails with ENOENT. The first one erased the handle from the
 * file's xarray, so the lookup in __uobj_get_destroy() finds nothing
 * (lookup_get_idr_uobject(), rdma_core.c). A handle that meanwhile names
 * another kind of object gives EINVAL (rdma_lookup_get_uobject() checks the
 * type) and that object survives.
 */
TEST_F(mr, dereg_twice)
{
	long pins0 = pins_outstanding();
	struct ibv_mr *mr;
	struct ibv_pd *pd2;
	uint32_t handle;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; there is no MR to deregister");
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	handle = mr->handle;
	ASSERT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_FAIL_ERRNO(ENOENT, raw_dereg_mr(self->ctx, handle));
	EXPECT_FAIL_ERRNO(ENOENT, raw_dereg_mr(self->ctx, handle));

	/* Handles are reused lowest first: a new PD most likely gets it. */
	pd2 = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, pd2);
	if (pd2->handle == handle)
		EXPECT_FAIL_ERRNO(EINVAL, raw_dereg_mr(self->ctx, handle));
	else
		TH_LOG("handle %u not reused (new PD got %u); the EINVAL check did not run",
		       handle, pd2->handle);
	EXPECT_EQ(0, ibv_dealloc_pd(pd2));
	EXPECT_EQ(pins0, pins_settle(pins0));
}

/*
 * Memory registration on a freed PD, sent raw with the saved handle, fails
 * with ENOENT and pins nothing. ib_uverbs_reg_mr() looks the PD up before
 * the driver (and so ib_umem_get() and the gate) is reached; the freed
 * handle is no longer in the file's xarray, and even when the new MR's own
 * reservation takes that very id, a reserved entry reads as NULL, so
 * lookup_get_idr_uobject() returns -ENOENT. The same holds where the device
 * refuses user memory: the stale handle is reported, not the refusal.
 *
 * Before that, freeing a PD that still has an MR fails with EBUSY
 * (uverbs_free_pd() sees pd->usecnt), and the PD and the MR stay usable.
 */
TEST_F(mr, freed_pd)
{
	long pins0 = pins_outstanding(), acq;
	struct ibv_pd *pd2;
	struct ibv_cq *cq;
	uint32_t pd_handle, mr_handle;
	int i, quiet = 0;

	/* The raw command itself works: the live PD gives the usual outcome. */
	if (self->refuse) {
		EXPECT_FAIL_ERRNO(EOPNOTSUPP, raw_reg_mr(self->ctx, self->pd->handle, self->buf,
							 SZ_4K, ACC, &mr_handle));
	} else {
		ASSERT_EQ(0, raw_reg_mr(self->ctx, self->pd->handle, self->buf, SZ_4K, ACC,
					&mr_handle)) TH_LOG("raw reg_mr: %s", strerror(errno));
		EXPECT_EQ(0, raw_dereg_mr(self->ctx, mr_handle))
			TH_LOG("raw dereg_mr: %s", strerror(errno));
	}

	pd2 = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, pd2);
	if (!self->refuse) {
		struct ibv_mr *mr, *mr2;

		mr = ibv_reg_mr(pd2, self->buf, SZ_4K, ACC);
		ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
		EXPECT_EQ(EBUSY, ibv_dealloc_pd(pd2));
		mr2 = ibv_reg_mr(pd2, self->buf, SZ_4K, ACC);
		EXPECT_NE(NULL, mr2) TH_LOG("reg_mr after the EBUSY: %s", strerror(errno));
		if (mr2)
			EXPECT_EQ(0, ibv_dereg_mr(mr2));
		EXPECT_EQ(0, ibv_dereg_mr(mr));
	}
	pd_handle = pd2->handle;
	ASSERT_EQ(0, ibv_dealloc_pd(pd2));

	EXPECT_FAIL_ERRNO(ENOENT, raw_reg_mr(self->ctx, pd_handle, self->buf, SZ_4K, ACC,
					     &mr_handle));
	/*
	 * Nothing pinned, not even briefly: nr_foll_pin_acquired must not
	 * move. Unrelated 9p I/O can move it, so one quiet try of five does.
	 */
	for (i = 0; i < 5 && !quiet; i++) {
		acq = read_counter("/proc/vmstat", "nr_foll_pin_acquired");
		EXPECT_FAIL_ERRNO(ENOENT, raw_reg_mr(self->ctx, pd_handle, self->buf, SZ_4K,
						     ACC, &mr_handle));
		quiet = acq == read_counter("/proc/vmstat", "nr_foll_pin_acquired");
	}
	EXPECT_TRUE(quiet) TH_LOG("nr_foll_pin_acquired moved on every stale reg_mr");

	/* The stale handle now names a CQ: the type check gives EINVAL. */
	cq = ibv_create_cq(self->ctx, 1, NULL, NULL, 0);
	ASSERT_NE(NULL, cq);
	if (cq->handle == pd_handle)
		EXPECT_FAIL_ERRNO(EINVAL, raw_reg_mr(self->ctx, pd_handle, self->buf, SZ_4K,
						     ACC, &mr_handle));
	else
		TH_LOG("handle %u not reused (new CQ got %u); the EINVAL check did not run",
		       pd_handle, cq->handle);
	EXPECT_EQ(0, ibv_destroy_cq(cq));
	EXPECT_EQ(pins0, pins_settle(pins0));
}

/* Beyond RLIMIT_MEMLOCK an unprivileged user gets ENOMEM, as without the gate. */
TEST_F(mr, beyond_memlock)
{
	struct rlimit rl;
	size_t len;
	char *big;

	if (self->refuse)
		SKIP(return, "the device refuses user memory before any accounting");
	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &rl));
	if (geteuid() == 0 || rl.rlim_cur == RLIM_INFINITY)
		SKIP(return, "needs an unprivileged user with a finite RLIMIT_MEMLOCK");
	len = (rl.rlim_cur + SZ_4K) * 2;
	big = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, big);
	memset(big, 1, len);
	EXPECT_NULL_ERRNO(ENOMEM, ibv_reg_mr(self->pd, big, len, ACC));
	munmap(big, len);
}

struct worker {
	struct ibv_pd *pd;
	char *buf;
	int refuse;
	int cycles;
	int bad;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < w->cycles; i++) {
		struct ibv_mr *mr = ibv_reg_mr(w->pd, w->buf, SZ_4K, ACC);

		if (w->refuse) {
			if (mr || errno != EOPNOTSUPP)
				w->bad++;
			if (mr)
				ibv_dereg_mr(mr);
		} else if (!mr || ibv_dereg_mr(mr)) {
			w->bad++;
		}
	}
	return NULL;
}

/*
 * 8 threads, 1,000 reg/dereg cycles each. With RDMA_DEV2/RDMA_EXPECT2 the
 * odd threads use a second device, so successes and refusals interleave.
 */
TEST_F_TIMEOUT(mr, threads, 600)
{
	const char *dev2 = getenv("RDMA_DEV2"), *exp2 = getenv("RDMA_EXPECT2");
	struct ibv_context *ctx2 = NULL;
	struct ibv_pd *pd2 = NULL;
	struct worker w[8];
	pthread_t th[8];
	long pins0 = pins_outstanding(), tlb0 = swiotlb_used();
	int i;

	if (dev2 && *dev2 && exp2 && *exp2) {
		ctx2 = open_device_by_name(dev2);
		ASSERT_NE(NULL, ctx2) TH_LOG("RDMA_DEV2=%s cannot be opened", dev2);
		pd2 = ibv_alloc_pd(ctx2);
		ASSERT_NE(NULL, pd2);
	}
	for (i = 0; i < 8; i++) {
		int second = pd2 && (i & 1);

		w[i].pd = second ? pd2 : self->pd;
		w[i].refuse = second ? !strcmp(exp2, "refuse") : self->refuse;
		w[i].buf = self->buf;
		w[i].cycles = 1000;
		w[i].bad = 0;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, worker_fn, &w[i]));
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, w[i].bad) TH_LOG("thread %d: %d unexpected outcomes", i, w[i].bad);
	}
	if (pd2)
		ibv_dealloc_pd(pd2);
	if (ctx2)
		ibv_close_device(ctx2);
	EXPECT_EQ(pins0, pins_settle(pins0));
	EXPECT_EQ(tlb0, swiotlb_used());
}

static int set_make_it_fail(int on)
{
	FILE *f = fopen("/proc/thread-self/make-it-fail", "w");
	int ret;

	if (!f)
		return -1;
	ret = fprintf(f, "%d", on) > 0 ? 0 : -1;
	return fclose(f) ? -1 : ret;
}

/*
 * Under fault injection (the calling case arms failslab / fail_page_alloc
 * with a task filter) registrations may fail, but only with a clean errno,
 * and nothing may stay pinned. Only this thread is marked to fail.
 */
TEST_F_TIMEOUT(mr, fault_cycles, 600)
{
	long pins0 = pins_outstanding();
	int i, failed = 0, ok = 0;

	if (!getenv("RDMA_FAULT_ARMED"))
		SKIP(return, "fault injection not armed by the caller (RDMA_FAULT_ARMED)");
	ASSERT_EQ(0, set_make_it_fail(1)) TH_LOG("cannot write make-it-fail: %s", strerror(errno));
	for (i = 0; i < 2000; i++) {
		struct ibv_mr *mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);

		if (mr) {
			ok++;
			if (ibv_dereg_mr(mr))
				failed += 1000000;	/* dereg must not fail */
			continue;
		}
		if (errno != ENOMEM && !(self->refuse && errno == EOPNOTSUPP)) {
			TH_LOG("iteration %d: unexpected errno %d (%s)", i, errno, strerror(errno));
			failed++;
		}
	}
	set_make_it_fail(0);
	TH_LOG("%d registrations succeeded, %d failed cleanly", ok, 2000 - ok);
	EXPECT_EQ(0, failed);
	EXPECT_EQ(pins0, pins_settle(pins0));
}

#define FEI "/sys/kernel/debug/fail_function/"

/* Write @val to fail_function's file @name; 0 or -1. */
static int fei_write(const char *name, const char *val)
{
	char path[256];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), FEI "%s", name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ret = fputs(val, f) < 0 ? -1 : 0;
	return fclose(f) ? -1 : ret;
}

/*
 * Arm fail_function so that call @nth of @func fails once with -@err.
 * There is no task filter: where fail_function's kprobe is an int3 probe
 * (no ftrace), its handler runs as an NMI, so make-it-fail and fail-nth
 * never match. The window is kept to the one registration instead; it
 * fails the call system-wide, so nothing else may register memory meanwhile.
 */
static int fei_arm(const char *func, int err, int nth)
{
	char path[128], val[32];

	snprintf(path, sizeof(path), "%s/retval", func);
	snprintf(val, sizeof(val), "%#llx", (unsigned long long)-(long long)err);
	if (fei_write("inject", func) || fei_write(path, val) ||
	    fei_write("task-filter", "N") || fei_write("interval", "1") ||
	    fei_write("verbose", "1") || fei_write("times", "1"))
		return -1;
	/* "space" lets NTH - 1 calls through: each costs 1, and it fails at 1 */
	snprintf(val, sizeof(val), "%d", nth);
	if (fei_write("space", val))
		return -1;
	return fei_write("probability", "100");
}

static void fei_disarm(void)
{
	fei_write("probability", "0");
	fei_write("space", "0");
	fei_write("inject", "\n");	/* blank: remove every injection point */
}

/*
 * One registration fails at the step named by RDMA_INJECT=FUNC:ERRNO:NTH
 * (ib_umem_pin_pages or ib_umem_dma_map, call NTH of it, once): it must
 * fail with exactly ERRNO, release every page it had pinned, and the same
 * registration must succeed once the injection is spent. RDMA_INJECT_SIZE
 * is the buffer size; above 512 pages the pin step runs more than once, so
 * a failure in a later chunk unwinds the chunks pinned before it.
 */
TEST_F(mr, injected_failure)
{
	const char *spec = getenv("RDMA_INJECT"), *z = getenv("RDMA_INJECT_SIZE");
	long pins0 = pins_outstanding(), tlb0 = swiotlb_used();
	char func[64], *end;
	int want, nth, err;
	unsigned long size;
	struct ibv_mr *mr;
	void *buf;

	if (!spec || !z)
		SKIP(return, "no injection asked for (RDMA_INJECT=FUNC:ERRNO:NTH, RDMA_INJECT_SIZE)");
	ASSERT_EQ(3, sscanf(spec, "%63[a-z_]:%d:%d", func, &want, &nth))
		TH_LOG("bad RDMA_INJECT '%s'", spec);
	ASSERT_TRUE(want > 0 && want < 4096 && nth > 0) TH_LOG("bad RDMA_INJECT '%s'", spec);
	size = strtoul(z, &end, 0);
	ASSERT_TRUE(*z && !*end && size && !(size % SZ_4K)) TH_LOG("bad RDMA_INJECT_SIZE '%s'", z);
	if (self->refuse)
		SKIP(return, "%s refuses before pinning; nothing to inject into", self->dev);

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 0x3c, size);

	ASSERT_EQ(0, fei_arm(func, want, nth)) {
		TH_LOG("cannot arm fail_function on %s: %s", func, strerror(errno));
		fei_disarm();
	}
	errno = 0;
	mr = ibv_reg_mr(self->pd, buf, size, ACC);
	err = errno;
	fei_disarm();
	EXPECT_EQ(NULL, mr);
	EXPECT_EQ(want, err) TH_LOG("errno %d (%s), injected %d (%s)", err, strerror(err),
				    want, strerror(want));
	if (mr)
		ibv_dereg_mr(mr);
	EXPECT_EQ(pins0, pins_settle(pins0));
	EXPECT_EQ(tlb0, swiotlb_used());

	mr = ibv_reg_mr(self->pd, buf, size, ACC);
	EXPECT_NE(NULL, mr) TH_LOG("reg_mr after the injection: %s", strerror(errno));
	if (mr)
		EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(pins0, pins_settle(pins0));
	munmap(buf, size);
}

TEST_HARNESS_MAIN

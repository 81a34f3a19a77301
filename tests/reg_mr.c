// SPDX-License-Identifier: GPL-2.0
/*
 * User memory registration against the coherent-DMA gate.
 *
 * The device under test is RDMA_DEV (an rxe device the calling case made);
 * RDMA_EXPECT says what the kernel must do with plain user MRs on it:
 *   success  the MR is mapped in place (coherent or virtual DMA)
 *   refuse   registration fails with EOPNOTSUPP (bounce or non-coherent)
 *   bounce   registration succeeds through SWIOTLB: the unsafe path of a
 *            kernel without the gate, which the hazard case shows
 * Every expectation is asserted with its exact errno. Pins are checked per
 * process and per page, never with system-wide counters: VmPin (the
 * process's pinned_vm) must come back to where it was, and the pages of the
 * buffer must not stay pinned (page_pinned(), a fork probe).
 *
 * Optional, set by the calling case:
 *   RDMA_EXPECT_COHERENCE  the exact dma_coherence word of the device
 *   RDMA_EXPECT_CC_BOUNCE  0 or 1, bit 41 of device_cap_flags_ex (0)
 *   RDMA_DMA_DEVICE        "none", or the device user memory is mapped with
 *   RDMA_DMA_MAP           identity, translated or bounced: how dma-debug
 *                          must see an MR's page mapped on that device
 *   RDMA_LATE_REFUSAL      1: the case turned ib_umem/early_refusal off
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
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

/*
 * No page of [@p, @p + @len) is still pinned (checks first and last). Root
 * can always tell (page_pinned() >= 0); an unprivileged run cannot read page
 * frames and relies on VmPin alone.
 */
#define EXPECT_UNPINNED(p, len) do {					\
		int __first = page_pinned(p);				\
		int __last = page_pinned((char *)(p) + (len) - 1);	\
		if (geteuid() == 0 || __first >= 0) {			\
			EXPECT_EQ(0, __first)				\
				TH_LOG("the first page is still pinned (1) or unreadable (-1)"); \
			EXPECT_EQ(0, __last)				\
				TH_LOG("the last page is still pinned (1) or unreadable (-1)"); \
		}							\
	} while (0)

#define SZ_4K	(4096UL)
#define SZ_4M	(4UL << 20)
#define SZ_1G	(1UL << 30)

enum expect { EXPECT_SUCCESS, EXPECT_REFUSE, EXPECT_BOUNCE };

static long read_counter(const char *path)
{
	long val = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

static long swiotlb_used(void)
{
	return read_counter("/sys/kernel/debug/swiotlb/io_tlb_used");
}

static long dma_debug_errors(void)
{
	return read_counter("/sys/kernel/debug/dma-api/error_count");
}

/*
 * How many MRs the kernel's resource tracking lists for @dev ("rdma res show
 * mr"), read while this process holds its device open: after the process
 * exits every MR is gone anyway, so only a count taken now can show a leak.
 * -1 if the rdma tool cannot be run.
 */
static int restrack_mrs(const char *dev)
{
	char cmd[160], line[512];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "rdma resource show mr dev %s 2>/dev/null", dev);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		n += strstr(line, " mrn ") != NULL;
	return pclose(p) == 0 ? n : -1;
}

/* An anonymous private buffer of @len bytes, every page touched. */
static char *touched(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, len);
	return p;
}

/*
 * Legacy uverbs write() commands, issued by hand on the context's command
 * fd. They take a bare handle, so a test can name an object libibverbs has
 * already freed (calling libibverbs on the freed struct would be undefined
 * behaviour), and rereg_mr reaches the kernel even though the rxe provider
 * of rdma-core has no rereg_mr. Each returns 0, or -1 with the kernel's
 * errno.
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

static int raw_rereg_mr(struct ibv_context *ctx, uint32_t mr_handle, int flags,
			void *addr, size_t len, uint32_t pd_handle, int access,
			uint32_t *rkey)
{
	struct ib_uverbs_rereg_mr_resp resp = {};
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_rereg_mr cmd;
	} req = {
		.hdr.command = IB_USER_VERBS_CMD_REREG_MR,
		.hdr.in_words = sizeof(req) / 4,
		.hdr.out_words = sizeof(resp) / 4,
		.cmd.response = (uintptr_t)&resp,
		.cmd.mr_handle = mr_handle,
		.cmd.flags = flags,
		.cmd.start = (uintptr_t)addr,
		.cmd.length = len,
		.cmd.hca_va = (uintptr_t)addr,
		.cmd.pd_handle = pd_handle,
		.cmd.access_flags = access,
	};

	if (write(ctx->cmd_fd, &req, sizeof(req)) != sizeof(req))
		return -1;
	if (rkey)
		*rkey = resp.rkey;
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

/*
 * How dma-debug sees the mapping of physical address @pa on device @dev:
 * 0 none, 1 identity (DMA address == physical), 2 any other DMA address.
 * Reads /sys/kernel/debug/dma-api/dump; -1 if it cannot.
 */
static int dma_debug_mapping(const char *dev, uint64_t pa)
{
	char line[512], name[128];
	unsigned long long p, d;
	int found = 0;
	FILE *f = fopen("/sys/kernel/debug/dma-api/dump", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *pp = strstr(line, " P="), *dp = strstr(line, " D=");

		if (!pp || !dp || sscanf(line, "%*s %127s", name) != 1 || strcmp(name, dev))
			continue;
		if (sscanf(pp, " P=%llx", &p) != 1 || sscanf(dp, " D=%llx", &d) != 1)
			continue;
		if (p != pa)
			continue;
		found = d == p ? 1 : 2;
		break;
	}
	fclose(f);
	return found;
}

FIXTURE(mr) {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char *buf;		/* one page, touched */
	char *buf2;		/* another: where a second MR must not share buf */
	enum expect expect;
	int refuse;		/* expect == EXPECT_REFUSE */
	long pin0;		/* VmPin after setup */
	char dev[64];
};

FIXTURE_SETUP(mr)
{
	const char *want = getenv("RDMA_DEV");
	const char *expect = getenv("RDMA_EXPECT");

	self->ctx = NULL;
	self->pd = NULL;
	self->buf = NULL;
	self->buf2 = NULL;
	/* Bad input from the calling case is its bug: fail, never skip. */
	ASSERT_TRUE(want && *want && expect)
		TH_LOG("RDMA_DEV and RDMA_EXPECT must name the device and the expected outcome");
	if (!strcmp(expect, "success"))
		self->expect = EXPECT_SUCCESS;
	else if (!strcmp(expect, "refuse"))
		self->expect = EXPECT_REFUSE;
	else if (!strcmp(expect, "bounce"))
		self->expect = EXPECT_BOUNCE;
	else
		ASSERT_TRUE(0) TH_LOG("RDMA_EXPECT must be success, refuse or bounce, not '%s'",
				      expect);
	self->refuse = self->expect == EXPECT_REFUSE;
	snprintf(self->dev, sizeof(self->dev), "%s", want);

	self->ctx = open_device_by_name(want);
	/* The calling case created it: not finding it is a failure. */
	ASSERT_NE(NULL, self->ctx) TH_LOG("RDMA device %s not found or cannot be opened", want);
	self->pd = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, self->pd);
	self->buf = touched(SZ_4K);
	ASSERT_NE(NULL, self->buf);
	self->buf2 = touched(SZ_4K);
	ASSERT_NE(NULL, self->buf2);
	self->pin0 = vm_pin_kb();
	ASSERT_LE(0, self->pin0) TH_LOG("no VmPin in /proc/self/status");
}

FIXTURE_TEARDOWN(mr)
{
	if (self->buf2)
		munmap(self->buf2, SZ_4K);
	if (self->buf)
		munmap(self->buf, SZ_4K);
	if (self->pd)
		ibv_dealloc_pd(self->pd);
	if (self->ctx)
		ibv_close_device(self->ctx);
}

/*
 * The page for a second MR held at the same time as one on self->buf. Where
 * user memory bounces (a kernel without the gate), two live MRs over one page
 * are two SWIOTLB slots that both copy back into it on unmap, and dma-debug
 * rightly reports the overlap, which the runner's log check would count
 * against the case. There the second MR gets a page of its own; the test
 * still checks what it is about (pins, PD references).
 */
static char *second_mr_page(FIXTURE_DATA(mr) *self)
{
	return self->expect == EXPECT_BOUNCE ? self->buf2 : self->buf;
}

#define ACC (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

/* VmPin is back where the test started. */
#define EXPECT_PIN_BASELINE() \
	EXPECT_EQ(self->pin0, vm_pin_kb()) TH_LOG("VmPin did not come back to %ld kB", self->pin0)

/*
 * Bit 41 of device_cap_flags_ex keeps mainline's meaning: a
 * confidential-computing guest whose device needs bounce buffers
 * (IB_UVERBS_DEVICE_CC_DMA_BOUNCE). It is not "registration will be
 * refused"; that is what dma_coherence says.
 */
TEST_F(mr, capability_bit)
{
	const char *cc = getenv("RDMA_EXPECT_CC_BOUNCE");
	struct ibv_device_attr_ex attr = {};

	ASSERT_EQ(0, ibv_query_device_ex(self->ctx, NULL, &attr));
	EXPECT_EQ(cc && !strcmp(cc, "1"), !!(attr.device_cap_flags_ex & IBV_DEVICE_CC_DMA_BOUNCE))
		TH_LOG("device_cap_flags_ex %#llx",
		       (unsigned long long)attr.device_cap_flags_ex);
}

/* The dma_coherence word names the expected state, before any registration. */
TEST_F(mr, sysfs_word)
{
	const char *want = getenv("RDMA_EXPECT_COHERENCE");
	char path[256], word[32] = "";
	int n;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/dma_coherence", self->dev);
	f = fopen(path, "r");
	if (!f)
		SKIP(return, "kernel without the dma_coherence sysfs file");
	n = fscanf(f, "%31s", word);
	fclose(f);
	ASSERT_EQ(1, n);
	TH_LOG("%s: dma_coherence=%s", self->dev, word);
	/* Refusal is certain exactly when the word is neither of these. */
	EXPECT_EQ(self->refuse, strcmp(word, "coherent") && strcmp(word, "virtual"));
	if (want)
		EXPECT_STREQ(want, word);
}

/* reg_mr and reg_mr_iova give the expected outcome, with any access. */
TEST_F(mr, register_verbs)
{
	struct ibv_mr *mr, *mr2;

	if (self->refuse) {
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC));
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr_iova(self->pd, self->buf, SZ_4K,
							      0x10000, ACC));
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, self->buf, SZ_4K,
							 IBV_ACCESS_LOCAL_WRITE));
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, self->buf, SZ_4K, 0));
		EXPECT_PIN_BASELINE();
		return;
	}
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	EXPECT_EQ(self->pin0 + 4, vm_pin_kb());
	mr2 = ibv_reg_mr_iova(self->pd, second_mr_page(self), SZ_4K, 0x10000, ACC);
	ASSERT_NE(NULL, mr2) TH_LOG("reg_mr_iova: %s", strerror(errno));
	EXPECT_EQ(self->pin0 + 8, vm_pin_kb());
	EXPECT_EQ(0, ibv_dereg_mr(mr2));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, 0);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr, no access flags: %s", strerror(errno));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_PIN_BASELINE();
}

/*
 * rereg_mr, sent as the raw uverbs command (rdma-core's rxe provider has no
 * rereg_mr and answers EOPNOTSUPP itself). rxe supports a PD and an access
 * change (RXE_MR_REREG_SUPPORTED); a translation change is answered with
 * EOPNOTSUPP by rxe_rereg_user_mr() on every rxe device, test mode or not,
 * before ib_umem or the gate are involved.
 */
TEST_F(mr, rereg_raw)
{
	struct ibv_mr *mr;
	struct ibv_pd *pd2;
	char *other;
	int rc;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; there is no MR to rereg");
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	pd2 = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, pd2);

	/* PD change: afterwards the MR keeps pd2 busy, not its first PD. */
	rc = raw_rereg_mr(self->ctx, mr->handle, IBV_REREG_MR_CHANGE_PD, NULL, 0, pd2->handle, 0,
			  NULL);
	if (rc && errno == EOPNOTSUPP) {
		/* before 6.2 rxe had no rereg_user_mr: uverbs says so itself */
		EXPECT_EQ(0, ibv_dereg_mr(mr));
		EXPECT_EQ(0, ibv_dealloc_pd(pd2));
		if (_metadata->exit_code == KSFT_PASS)
			SKIP(return, "this kernel's rxe has no rereg_mr");
		return;
	}
	EXPECT_EQ(0, rc) TH_LOG("PD: %s", strerror(errno));
	EXPECT_EQ(EBUSY, ibv_dealloc_pd(pd2));
	/* Access change: a valid set is taken, an invalid one is EINVAL. */
	EXPECT_EQ(0, raw_rereg_mr(self->ctx, mr->handle, IBV_REREG_MR_CHANGE_ACCESS, NULL, 0,
				  0, IBV_ACCESS_LOCAL_WRITE, NULL))
		TH_LOG("access: %s", strerror(errno));
	EXPECT_FAIL_ERRNO(EINVAL, raw_rereg_mr(self->ctx, mr->handle,
					       IBV_REREG_MR_CHANGE_ACCESS, NULL, 0, 0,
					       IBV_ACCESS_REMOTE_WRITE, NULL));
	/* Translation change: rxe's answer, and the old mapping stays. */
	other = touched(SZ_4K);
	ASSERT_NE(NULL, other);
	EXPECT_FAIL_ERRNO(EOPNOTSUPP, raw_rereg_mr(self->ctx, mr->handle,
						   IBV_REREG_MR_CHANGE_TRANSLATION, other,
						   SZ_4K, 0, 0, NULL));
	EXPECT_EQ(self->pin0 + 4, vm_pin_kb());
	EXPECT_UNPINNED(other, SZ_4K);
	/* An empty change is EINVAL, an unknown flag EOPNOTSUPP (uverbs). */
	EXPECT_FAIL_ERRNO(EINVAL, raw_rereg_mr(self->ctx, mr->handle, 0, NULL, 0, 0, 0, NULL));
	EXPECT_FAIL_ERRNO(EOPNOTSUPP, raw_rereg_mr(self->ctx, mr->handle, 1 << 3, NULL, 0, 0,
						   0, NULL));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(0, ibv_dealloc_pd(pd2));
	munmap(other, SZ_4K);
	EXPECT_PIN_BASELINE();
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
	EXPECT_PIN_BASELINE();
}

/*
 * 10,000 refusals leave no pinned page behind, never pin the buffer, and
 * leave no MR in the kernel's resource tracking.
 */
TEST_F_TIMEOUT(mr, refusal_leaks_nothing, 600)
{
	int i;

	if (!self->refuse)
		SKIP(return, "the device accepts user memory");
	for (i = 0; i < 10000; i++) {
		struct ibv_mr *mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);

		if (mr || errno != EOPNOTSUPP) {
			TH_LOG("iteration %d: mr %p errno %d", i, mr, errno);
			if (mr)
				ibv_dereg_mr(mr);
			ASSERT_TRUE(0);
		}
	}
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(self->buf, SZ_4K);
	EXPECT_EQ(0, restrack_mrs(self->dev));
}

/*
 * The refusal the DMA layer makes at map time, after every page has been
 * pinned (the calling case turned the refusal before pinning off, as for a
 * device whose refusal depends on the buffer). 4 MiB, so that the pages
 * are pinned in several chunks: each must be unpinned and discharged, no
 * SWIOTLB slot taken, no dma-debug error left.
 */
TEST_F(mr, late_refusal)
{
	long tlb0 = swiotlb_used(), err0 = dma_debug_errors();
	char *big;
	int i;

	if (!getenv("RDMA_LATE_REFUSAL"))
		SKIP(return, "the refusal before pinning is on (RDMA_LATE_REFUSAL unset)");
	ASSERT_TRUE(self->refuse) TH_LOG("RDMA_LATE_REFUSAL is for a refusing device");
	big = touched(SZ_4M);
	ASSERT_NE(NULL, big);
	for (i = 0; i < 20; i++)
		EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, big, SZ_4M, ACC));
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(big, SZ_4M);
	EXPECT_EQ(0, page_pinned(big + SZ_4M / 2));
	EXPECT_EQ(tlb0, swiotlb_used());
	EXPECT_EQ(err0, dma_debug_errors());
	munmap(big, SZ_4M);
}

/*
 * 10,000 successful reg/dereg cycles leave nothing pinned or mapped. Where
 * the device bounces (RDMA_EXPECT=bounce), a registered MR holds SWIOTLB
 * slots, which every dereg must give back.
 */
TEST_F_TIMEOUT(mr, success_cycles_leak_nothing, 600)
{
	long tlb0 = swiotlb_used();
	struct ibv_mr *mr;
	int i;

	if (self->refuse)
		SKIP(return, "the device refuses user memory");
	for (i = 0; i < 10000; i++) {
		mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
		ASSERT_NE(NULL, mr) TH_LOG("iteration %d: errno %d", i, errno);
		ASSERT_EQ(0, ibv_dereg_mr(mr));
	}
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(self->buf, SZ_4K);
	EXPECT_EQ(tlb0, swiotlb_used());

	EXPECT_EQ(0, restrack_mrs(self->dev)) TH_LOG("rdma res lists MRs after the cycles");

	/* With one MR registered, both counters show it (they can see a leak). */
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr);
	EXPECT_EQ(1, restrack_mrs(self->dev));
	if (self->expect == EXPECT_BOUNCE) {
		EXPECT_LT(tlb0, swiotlb_used()) TH_LOG("a bounced MR holds no SWIOTLB slot");
	} else {
		EXPECT_EQ(tlb0, swiotlb_used()) TH_LOG("an MR mapped in place holds SWIOTLB slots");
	}
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(tlb0, swiotlb_used());
	EXPECT_EQ(0, restrack_mrs(self->dev));
}

/*
 * The pin probes themselves work: a registered page is pinned and
 * accounted, and is neither once deregistered. Without this, every
 * "nothing pinned" check above could pass because the probe is blind.
 */
TEST_F(mr, pin_oracle)
{
	struct ibv_mr *mr;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; the probe is checked where it accepts it");
	if (page_pinned(self->buf) < 0)
		SKIP(return, "page frames are not visible (needs CAP_SYS_ADMIN)");
	EXPECT_EQ(0, page_pinned(self->buf));
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	EXPECT_EQ(1, page_pinned(self->buf));
	EXPECT_EQ(self->pin0 + 4, vm_pin_kb());
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(0, page_pinned(self->buf));
	EXPECT_PIN_BASELINE();
}

/*
 * The MR's page is mapped on the device the case names, the way it names:
 * the rxe test mode really goes through the DMA API of its PCI parent
 * (identity in direct, an IOVA behind an IOMMU, a SWIOTLB slot where it
 * bounces), and stock rxe does not use the DMA API at all ("none").
 * dma-debug's dump lists every live mapping with its physical and DMA
 * address.
 */
TEST_F(mr, dma_debug_sees_mr)
{
	const char *dev = getenv("RDMA_DMA_DEVICE"), *how = getenv("RDMA_DMA_MAP");
	uint64_t pa;
	struct ibv_mr *mr;
	int seen;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; there is no mapping to look at");
	ASSERT_TRUE(dev && *dev) TH_LOG("RDMA_DMA_DEVICE not set by the calling case");
	if (access("/sys/kernel/debug/dma-api/dump", R_OK))
		SKIP(return, "%s", errno == ENOENT ? "kernel without dma-debug (CONFIG_DMA_API_DEBUG)" :
		     "dma-debug's dump is not readable (needs root)");
	pa = page_pfn(self->buf) * SZ_4K;
	ASSERT_TRUE(pa != 0) TH_LOG("page frames are not visible (needs CAP_SYS_ADMIN)");
	mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	if (!strcmp(dev, "none")) {
		/* no device of the machine has a mapping of it */
		FILE *f = fopen("/sys/kernel/debug/dma-api/dump", "r");
		char line[512], p[32];

		snprintf(p, sizeof(p), "P=0x%016llx ", (unsigned long long)pa);
		seen = 0;
		while (f && fgets(line, sizeof(line), f))
			seen |= !!strstr(line, p);
		if (f)
			fclose(f);
		EXPECT_EQ(0, seen) TH_LOG("a virtual-DMA MR shows up in dma-debug");
	} else {
		ASSERT_TRUE(how && *how) TH_LOG("RDMA_DMA_MAP not set by the calling case");
		seen = dma_debug_mapping(dev, pa);
		TH_LOG("%s: page %#llx mapped: %s", dev, (unsigned long long)pa,
		       seen == 1 ? "identity" : seen == 2 ? "other address" : "no");
		if (!strcmp(how, "identity")) {
			EXPECT_EQ(1, seen);
		} else {
			EXPECT_EQ(2, seen);
		}
	}
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	if (strcmp(dev, "none"))
		EXPECT_EQ(0, dma_debug_mapping(dev, pa)) TH_LOG("the mapping outlived the MR");
}

/*
 * Several MRs over one page are normal RDMA practice; dma-debug must not
 * call them overlapping-cacheline errors (the runner also checks the log).
 */
TEST_F(mr, overlapping_mrs)
{
	long err0 = dma_debug_errors();
	struct ibv_mr *mrs[8];
	int i;

	if (self->refuse)
		SKIP(return, "the device refuses user memory");
	if (self->expect == EXPECT_BOUNCE)
		SKIP(return, "user memory bounces: MRs over one page are overlapping SWIOTLB copies");
	for (i = 0; i < 8; i++) {
		mrs[i] = ibv_reg_mr(self->pd, self->buf + i * 64, 64, ACC);
		ASSERT_NE(NULL, mrs[i]);
	}
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0, ibv_dereg_mr(mrs[i]));
	EXPECT_EQ(err0, dma_debug_errors());
	EXPECT_PIN_BASELINE();
}

/*
 * Bad input on a device that accepts user memory gets the errno of the
 * check that finds it, and leaves nothing pinned.
 */
TEST_F(mr, bad_input)
{
	char *ro, *hole;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; bad_input_refused covers it");
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
	EXPECT_PIN_BASELINE();
}

/*
 * Bad input on a refusing device: which errno wins. What uverbs checks on
 * the command itself comes first and stays EINVAL (an access flag that does
 * not exist). Everything ib_umem_get() would find out about the memory
 * (NULL, zero length, a range that wraps, an unmapped range, read-only
 * memory for a writable MR) is never looked at: the coherence refusal comes
 * first, as mainline's CoCo refusal does, so it is EOPNOTSUPP, and nothing
 * is pinned.
 */
TEST_F(mr, bad_input_refused)
{
	char *ro, *hole;

	if (!self->refuse)
		SKIP(return, "the device accepts user memory; bad_input covers it");
	EXPECT_NULL_ERRNO(EINVAL, ibv_reg_mr(self->pd, self->buf, SZ_4K, 1 << 30));
	EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, NULL, SZ_4K, ACC));
	EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, self->buf, 0, ACC));
	EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, (void *)(UINTPTR_MAX - SZ_4K + 1),
						 2 * SZ_4K, ACC));
	hole = mmap(NULL, 4 * SZ_4K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	munmap(hole, 4 * SZ_4K);
	EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, hole, 4 * SZ_4K, ACC));
	ro = mmap(NULL, SZ_4K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, ro, SZ_4K, ACC));
	munmap(ro, SZ_4K);
	EXPECT_PIN_BASELINE();
}

/*
 * A length of 2^63: more pages than ib_umem can count (EINVAL where the
 * device accepts memory, before anything is pinned or accounted), and the
 * refusal where it does not.
 */
TEST_F(mr, huge_length)
{
	EXPECT_NULL_ERRNO(self->refuse ? EOPNOTSUPP : EINVAL,
			  ibv_reg_mr(self->pd, self->buf, 1ULL << 63, ACC));
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(self->buf, SZ_4K);
}

/*
 * reg_mr_iova with an iova whose offset in the page differs from the
 * address's: uverbs rejects the command itself (EINVAL) on every device,
 * refusing or not, before the driver sees it.
 */
TEST_F(mr, iova_offset_mismatch)
{
	EXPECT_NULL_ERRNO(EINVAL, ibv_reg_mr_iova(self->pd, self->buf + 16, 64,
						  0x10000 + 32, ACC));
	EXPECT_PIN_BASELINE();
}

/*
 * The application unmaps a registered buffer, then deregisters: the MR
 * kept the pages pinned and accounted meanwhile, the dereg releases them,
 * and nothing crashes.
 */
TEST_F(mr, munmap_while_registered)
{
	struct ibv_mr *mr;
	char *b;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; there is no MR");
	b = touched(16 * SZ_4K);
	ASSERT_NE(NULL, b);
	mr = ibv_reg_mr(self->pd, b, 16 * SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	ASSERT_EQ(0, munmap(b, 16 * SZ_4K));
	EXPECT_EQ(self->pin0 + 64, vm_pin_kb()) TH_LOG("the pins went with the mapping");
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_PIN_BASELINE();
}

/*
 * fork() while an MR is registered: the child gets its own copy of the
 * pinned page at once (the kernel reports copy-on-fork, so libibverbs
 * needs no MADV_DONTFORK), the parent keeps the very page the device has,
 * and the child's writes never reach it. Shared by the two fixtures below.
 */
static __attribute__((noinline)) void fork_check(struct __test_metadata *_metadata,
						 struct ibv_pd *pd, char *buf,
		       long pin0)
{
	uint64_t pfn = page_pfn(buf);
	struct ibv_mr *mr;
	int st;
	pid_t pid;

	EXPECT_EQ((int)IBV_FORK_UNNEEDED, (int)ibv_is_fork_initialized());
	mr = ibv_reg_mr(pd, buf, SZ_4K, ACC);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr: %s", strerror(errno));
	buf[0] = 0x11;
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* sees the data, in a page of its own; writes stay its own */
		int ok = buf[0] == 0x11 && buf[100] == 0x5a;

		buf[0] = 0x22;
		_exit(ok ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("child status %#x (3: it did not see the parent's data)", st);
	EXPECT_EQ(0x11, buf[0]) TH_LOG("the child's write reached the parent's page");
	if (pfn)
		EXPECT_EQ(pfn, page_pfn(buf)) TH_LOG("the parent lost the registered page");
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(pin0, vm_pin_kb());
}

TEST_F(mr, fork_after_registration)
{
	if (self->refuse)
		SKIP(return, "the device refuses user memory; there is no MR");
	fork_check(_metadata, self->pd, self->buf, self->pin0);
}

/* The same with RDMAV_FORK_SAFE set before libibverbs starts. */
FIXTURE(forksafe) {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char *buf;
};

FIXTURE_SETUP(forksafe)
{
	const char *want = getenv("RDMA_DEV");

	self->ctx = NULL;
	self->pd = NULL;
	self->buf = NULL;
	ASSERT_TRUE(want && *want);
	ASSERT_EQ(0, setenv("RDMAV_FORK_SAFE", "1", 1));
	self->ctx = open_device_by_name(want);
	ASSERT_NE(NULL, self->ctx);
	self->pd = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, self->pd);
	self->buf = touched(SZ_4K);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(forksafe)
{
	if (self->buf)
		munmap(self->buf, SZ_4K);
	if (self->pd)
		ibv_dealloc_pd(self->pd);
	if (self->ctx)
		ibv_close_device(self->ctx);
}

TEST_F(forksafe, fork_after_registration)
{
	const char *expect = getenv("RDMA_EXPECT");

	if (expect && !strcmp(expect, "refuse"))
		SKIP(return, "the device refuses user memory; there is no MR");
	fork_check(_metadata, self->pd, self->buf, vm_pin_kb());
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
	EXPECT_PIN_BASELINE();
}

struct racer {
	struct ibv_context *ctx;
	uint32_t handle;
	pthread_barrier_t *go;
	int ret, err;
};

static void *dereg_racer(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->ret = raw_dereg_mr(r->ctx, r->handle);
	r->err = errno;
	return NULL;
}

/*
 * Two threads deregister the same MR handle at once, 200 times: exactly
 * one wins. The loser finds the handle gone (ENOENT) or, while the winner
 * still holds the object for its destroy, locked (EBUSY from
 * uverbs_try_lock_object() in rdma_lookup_get_uobject()). The pins go
 * with the one MR, once.
 */
TEST_F(mr, dereg_race)
{
	pthread_barrier_t go;
	struct racer r[2];
	pthread_t th[2];
	int i, k, busy = 0;

	if (self->refuse)
		SKIP(return, "the device refuses user memory; there is no MR to deregister");
	ASSERT_EQ(0, pthread_barrier_init(&go, NULL, 2));
	for (i = 0; i < 200; i++) {
		uint32_t handle;

		ASSERT_EQ(0, raw_reg_mr(self->ctx, self->pd->handle, self->buf, SZ_4K, ACC,
					&handle)) TH_LOG("raw reg_mr: %s", strerror(errno));
		for (k = 0; k < 2; k++) {
			r[k] = (struct racer){ .ctx = self->ctx, .handle = handle, .go = &go };
			ASSERT_EQ(0, pthread_create(&th[k], NULL, dereg_racer, &r[k]));
		}
		for (k = 0; k < 2; k++)
			pthread_join(th[k], NULL);
		ASSERT_EQ(1, (r[0].ret == 0) + (r[1].ret == 0))
			TH_LOG("round %d: results %d/%d, errno %d/%d", i, r[0].ret, r[1].ret,
			       r[0].err, r[1].err);
		k = r[0].ret ? 0 : 1;
		ASSERT_TRUE(r[k].err == ENOENT || r[k].err == EBUSY)
			TH_LOG("round %d: the loser got errno %d (%s)", i, r[k].err,
			       strerror(r[k].err));
		busy += r[k].err == EBUSY;
	}
	TH_LOG("200 races: the loser saw EBUSY %d times, ENOENT %d times", busy, 200 - busy);
	pthread_barrier_destroy(&go);
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(self->buf, SZ_4K);
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
	struct ibv_pd *pd2;
	struct ibv_cq *cq;
	uint32_t pd_handle, mr_handle;

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
		mr2 = ibv_reg_mr(pd2, second_mr_page(self), SZ_4K, ACC);
		EXPECT_NE(NULL, mr2) TH_LOG("reg_mr after the EBUSY: %s", strerror(errno));
		if (mr2)
			EXPECT_EQ(0, ibv_dereg_mr(mr2));
		EXPECT_EQ(0, ibv_dereg_mr(mr));
	}
	pd_handle = pd2->handle;
	ASSERT_EQ(0, ibv_dealloc_pd(pd2));

	EXPECT_FAIL_ERRNO(ENOENT, raw_reg_mr(self->ctx, pd_handle, self->buf, SZ_4K, ACC,
					     &mr_handle));
	EXPECT_PIN_BASELINE();

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
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(self->buf, SZ_4K);
}

/* An unprivileged user with a finite RLIMIT_MEMLOCK: how much is too much. */
static size_t beyond_memlock_len(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) || geteuid() == 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return (rl.rlim_cur + SZ_4K) * 2;
}

/* Beyond RLIMIT_MEMLOCK an unprivileged user gets ENOMEM, as without the gate. */
TEST_F(mr, beyond_memlock)
{
	size_t len = beyond_memlock_len();
	char *big;

	if (self->refuse)
		SKIP(return, "the device refuses user memory before any accounting");
	if (!len)
		SKIP(return, "needs an unprivileged user with a finite RLIMIT_MEMLOCK");
	big = touched(len);
	ASSERT_NE(NULL, big);
	EXPECT_NULL_ERRNO(ENOMEM, ibv_reg_mr(self->pd, big, len, ACC));
	EXPECT_PIN_BASELINE();
	munmap(big, len);
}

/*
 * On a refusing device the same registration is refused before it is
 * accounted: EOPNOTSUPP, not the ENOMEM of RLIMIT_MEMLOCK. A kernel that
 * only refuses at map time would pin first and hit the limit first.
 */
TEST_F(mr, refusal_before_accounting)
{
	size_t len = beyond_memlock_len();
	char *big;

	if (!self->refuse)
		SKIP(return, "the device accepts user memory; beyond_memlock covers it");
	if (!len)
		SKIP(return, "needs an unprivileged user with a finite RLIMIT_MEMLOCK");
	big = touched(len);
	ASSERT_NE(NULL, big);
	EXPECT_NULL_ERRNO(EOPNOTSUPP, ibv_reg_mr(self->pd, big, len, ACC));
	EXPECT_PIN_BASELINE();
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
 * 8 threads, 1,000 reg/dereg cycles each, all on one page. With
 * RDMA_DEV2/RDMA_EXPECT2 the odd threads use a second device, so successes
 * and refusals interleave. Where user memory bounces, each thread has a page
 * of its own (see second_mr_page()).
 */
TEST_F_TIMEOUT(mr, threads, 600)
{
	const char *dev2 = getenv("RDMA_DEV2"), *exp2 = getenv("RDMA_EXPECT2");
	struct ibv_context *ctx2 = NULL;
	struct ibv_pd *pd2 = NULL;
	struct worker w[8];
	char *own = NULL;
	pthread_t th[8];
	int i;

	if (self->expect == EXPECT_BOUNCE) {
		own = touched(8 * SZ_4K);
		ASSERT_NE(NULL, own);
	}
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
		w[i].buf = own ? own + i * SZ_4K : self->buf;
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
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(self->buf, SZ_4K);
	if (own) {
		EXPECT_UNPINNED(own, 8 * SZ_4K);
		munmap(own, 8 * SZ_4K);
	}
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
 * with a task filter) registrations fail, but only with a clean errno, and
 * nothing stays pinned. Only this thread is marked to fail. At least one
 * registration must have failed with ENOMEM where registration works:
 * otherwise no fault reached it and the test proved nothing.
 */
TEST_F_TIMEOUT(mr, fault_cycles, 600)
{
	int i, failed = 0, ok = 0, nomem = 0;

	if (!getenv("RDMA_FAULT_ARMED"))
		SKIP(return, "fault injection not armed by the caller (RDMA_FAULT_ARMED)");
	/*
	 * Fault in and lock every page mapped now or later, so that while the
	 * faults are armed this thread never reads a page of its program or
	 * libraries: an allocation failed inside the root filesystem's read
	 * (9p under QEMU) would kill the test with SIGBUS and can leave the
	 * filesystem returning errors to every process afterwards.
	 */
	ASSERT_EQ(0, mlockall(MCL_CURRENT | MCL_FUTURE)) TH_LOG("mlockall: %s", strerror(errno));
	ASSERT_EQ(0, set_make_it_fail(1)) TH_LOG("cannot write make-it-fail: %s", strerror(errno));
	for (i = 0; i < 2000; i++) {
		struct ibv_mr *mr = ibv_reg_mr(self->pd, self->buf, SZ_4K, ACC);

		if (mr) {
			ok++;
			if (ibv_dereg_mr(mr))
				failed += 1000000;	/* dereg must not fail */
			continue;
		}
		if (errno == ENOMEM) {
			nomem++;
		} else if (!(self->refuse && errno == EOPNOTSUPP)) {
			TH_LOG("iteration %d: unexpected errno %d (%s)", i, errno, strerror(errno));
			failed++;
		}
	}
	set_make_it_fail(0);
	munlockall();
	TH_LOG("%d registrations succeeded, %d failed with ENOMEM, %d refused", ok, nomem,
	       2000 - ok - nomem);
	EXPECT_EQ(0, failed);
	if (!self->refuse)
		EXPECT_LT(0, nomem) TH_LOG("no injected fault reached a registration");
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(self->buf, SZ_4K);
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
 * fail_function's "times" must have gone from 1 to 0: the fault was
 * injected, not merely armed.
 */
TEST_F(mr, injected_failure)
{
	const char *spec = getenv("RDMA_INJECT"), *z = getenv("RDMA_INJECT_SIZE");
	long tlb0 = swiotlb_used();
	char func[64], *end, *buf;
	int want, nth, err;
	unsigned long size;
	struct ibv_mr *mr;

	if (!spec || !z)
		SKIP(return, "no injection asked for (RDMA_INJECT=FUNC:ERRNO:NTH, RDMA_INJECT_SIZE)");
	ASSERT_EQ(3, sscanf(spec, "%63[a-z_]:%d:%d", func, &want, &nth))
		TH_LOG("bad RDMA_INJECT '%s'", spec);
	ASSERT_TRUE(want > 0 && want < 4096 && nth > 0) TH_LOG("bad RDMA_INJECT '%s'", spec);
	size = strtoul(z, &end, 0);
	ASSERT_TRUE(*z && !*end && size && !(size % SZ_4K)) TH_LOG("bad RDMA_INJECT_SIZE '%s'", z);
	ASSERT_FALSE(self->refuse) TH_LOG("%s refuses before pinning; nothing to inject into",
					  self->dev);

	buf = touched(size);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, fei_arm(func, want, nth)) {
		TH_LOG("cannot arm fail_function on %s: %s", func, strerror(errno));
		fei_disarm();
	}
	errno = 0;
	mr = ibv_reg_mr(self->pd, buf, size, ACC);
	err = errno;
	EXPECT_EQ(0, read_counter(FEI "times")) TH_LOG("fail_function injected nothing");
	fei_disarm();
	EXPECT_EQ(NULL, mr);
	EXPECT_EQ(want, err) TH_LOG("errno %d (%s), injected %d (%s)", err, strerror(err),
				    want, strerror(want));
	if (mr)
		ibv_dereg_mr(mr);
	EXPECT_PIN_BASELINE();
	EXPECT_UNPINNED(buf, size);
	EXPECT_EQ(tlb0, swiotlb_used());

	mr = ibv_reg_mr(self->pd, buf, size, ACC);
	EXPECT_NE(NULL, mr) TH_LOG("reg_mr after the injection: %s", strerror(errno));
	if (mr)
		EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_PIN_BASELINE();
	munmap(buf, size);
}

TEST_HARNESS_MAIN

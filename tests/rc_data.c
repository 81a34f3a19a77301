// SPDX-License-Identifier: GPL-2.0
/*
 * Data integrity over an RC connection between two QPs of one device:
 * RDMA WRITE from QP a into an MR behind QP b, then RDMA READ it back, and
 * compare what the application sees in its own pages.
 *
 * RDMA_DEV names the device, RDMA_GID_INDEX its RoCE v2 GID. With
 * RDMA_EXPECT_DATA=lost the test asserts the hazard instead: the written data
 * must NOT be visible in the target buffer while the MR is registered (a
 * registration that silently bounced, on a kernel without the gate).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <infiniband/verbs.h>

#include "kselftest_harness.h"
#include "rdma_test.h"

#define BUF_SIZE 65536

struct side {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	unsigned char *buf;
};

FIXTURE(rc) {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct side a, b;
	union ibv_gid gid;
	int gid_index;
	int expect_lost;
};

static int to_rts(struct ibv_qp *qp, uint32_t remote_qpn, union ibv_gid *gid, int sgid)
{
	struct ibv_qp_attr at = {
		.qp_state = IBV_QPS_INIT, .port_num = 1, .pkey_index = 0,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_LOCAL_WRITE,
	};

	if (ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = remote_qpn;
	at.max_dest_rd_atomic = 1;
	at.min_rnr_timer = 12;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = *gid;
	at.ah_attr.grh.sgid_index = sgid;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.timeout = 14;
	at.retry_cnt = 7;
	at.rnr_retry = 7;
	at.max_rd_atomic = 1;
	return ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}

static int side_init(FIXTURE_DATA(rc) *self, struct side *s)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
	};

	s->buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED)
		return -1;
	memset(s->buf, 0, BUF_SIZE);
	s->cq = ibv_create_cq(self->ctx, 8, NULL, NULL, 0);
	if (!s->cq)
		return -1;
	ia.send_cq = s->cq;
	ia.recv_cq = s->cq;
	s->qp = ibv_create_qp(self->pd, &ia);
	if (!s->qp)
		return -1;
	s->mr = ibv_reg_mr(self->pd, s->buf, BUF_SIZE, IBV_ACCESS_LOCAL_WRITE |
			   IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	return s->mr ? 0 : -1;
}

static void side_fini(struct side *s)
{
	if (s->mr)
		ibv_dereg_mr(s->mr);
	if (s->qp)
		ibv_destroy_qp(s->qp);
	if (s->cq)
		ibv_destroy_cq(s->cq);
	if (s->buf && s->buf != MAP_FAILED)
		munmap(s->buf, BUF_SIZE);
}

/* Post one RDMA op from @s and wait (bounded) for its completion. */
static int rdma_op(struct side *s, enum ibv_wr_opcode op, struct ibv_mr *remote)
{
	struct ibv_sge sge = { .addr = (uintptr_t)s->buf, .length = BUF_SIZE, .lkey = s->mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = 1, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)remote->addr, .rkey = remote->rkey },
	}, *bad;
	struct ibv_wc wc;
	int i, n;

	if (ibv_post_send(s->qp, &wr, &bad))
		return -1;
	for (i = 0; i < 5000000; i++) {
		n = ibv_poll_cq(s->cq, 1, &wc);
		if (n < 0)
			return -1;
		if (n == 1)
			return wc.status == IBV_WC_SUCCESS ? 0 : -(int)wc.status;
	}
	return -ETIMEDOUT;
}

FIXTURE_SETUP(rc)
{
	const char *dev = getenv("RDMA_DEV"), *gi = getenv("RDMA_GID_INDEX");
	const char *data = getenv("RDMA_EXPECT_DATA");

	memset(&self->a, 0, sizeof(self->a));
	memset(&self->b, 0, sizeof(self->b));
	self->ctx = NULL;
	self->pd = NULL;
	/* Bad input from the calling case is its bug: fail, never skip. */
	ASSERT_TRUE(dev && gi && *gi)
		TH_LOG("RDMA_DEV and RDMA_GID_INDEX must name the device and its RoCE v2 GID");
	self->gid_index = atoi(gi);
	self->expect_lost = data && !strcmp(data, "lost");
	self->ctx = open_device_by_name(dev);
	/* The calling case created it: not finding it is a failure. */
	ASSERT_NE(NULL, self->ctx) TH_LOG("RDMA device %s not found", dev);
	ASSERT_EQ(0, ibv_query_gid(self->ctx, 1, self->gid_index, &self->gid));
	self->pd = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, self->pd);
	ASSERT_EQ(0, side_init(self, &self->a)) TH_LOG("side a: %s", strerror(errno));
	ASSERT_EQ(0, side_init(self, &self->b)) TH_LOG("side b: %s", strerror(errno));
	ASSERT_EQ(0, to_rts(self->a.qp, self->b.qp->qp_num, &self->gid, self->gid_index));
	ASSERT_EQ(0, to_rts(self->b.qp, self->a.qp->qp_num, &self->gid, self->gid_index));
}

FIXTURE_TEARDOWN(rc)
{
	side_fini(&self->a);
	side_fini(&self->b);
	if (self->pd)
		ibv_dealloc_pd(self->pd);
	if (self->ctx)
		ibv_close_device(self->ctx);
}

TEST_F(rc, write_then_read_verified)
{
	size_t i, same = 0;

	for (i = 0; i < BUF_SIZE; i++)
		self->a.buf[i] = (unsigned char)(i * 7 + 3);
	ASSERT_EQ(0, rdma_op(&self->a, IBV_WR_RDMA_WRITE, self->b.mr));
	for (i = 0; i < BUF_SIZE; i++)
		same += self->b.buf[i] == self->a.buf[i];
	TH_LOG("after RDMA WRITE, %zu of %d bytes visible in the target buffer", same, BUF_SIZE);
	if (self->expect_lost) {
		/* The hazard: the completion says done, the page says otherwise. */
		EXPECT_LT(same, (size_t)BUF_SIZE);
		return;
	}
	ASSERT_EQ((size_t)BUF_SIZE, same);

	memset(self->a.buf, 0, BUF_SIZE);
	ASSERT_EQ(0, rdma_op(&self->a, IBV_WR_RDMA_READ, self->b.mr));
	for (i = 0; i < BUF_SIZE; i++)
		ASSERT_EQ((unsigned char)(i * 7 + 3), self->a.buf[i]);
}

TEST_HARNESS_MAIN

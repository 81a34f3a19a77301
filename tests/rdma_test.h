/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the C tests. */
#ifndef RDMA_TEST_H
#define RDMA_TEST_H

#include <string.h>
#include <infiniband/verbs.h>

/* Open the RDMA device called @name, or return NULL. */
static inline struct ibv_context *open_device_by_name(const char *name)
{
	struct ibv_context *ctx = NULL;
	struct ibv_device **list;
	int i, n;

	list = ibv_get_device_list(&n);
	if (!list)
		return NULL;
	for (i = 0; i < n && !ctx; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	return ctx;
}

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the C tests. */
#ifndef RDMA_TEST_H
#define RDMA_TEST_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
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

/*
 * The pinned memory this process has accounted, in KiB: VmPin of
 * /proc/self/status, which is mm->pinned_vm, the counter ib_umem_get()
 * charges for every page it pins and ib_umem_release() discharges. It is
 * per process, so unlike the system-wide nr_foll_pin_* counters nothing
 * else running on the machine moves it. -1 if it cannot be read.
 */
static inline long vm_pin_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The page frame behind @addr in this process, 0 if none or not visible. */
static inline uint64_t page_pfn(const void *addr)
{
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), (uintptr_t)addr / psz * sizeof(ent)) != sizeof(ent))
		ent = 0;
	close(fd);
	/* bit 63: present; bits 0-54: the PFN, readable with CAP_SYS_ADMIN only */
	if (!(ent & (1ULL << 63)))
		return 0;
	return ent & ((1ULL << 55) - 1);
}

/*
 * Whether the anonymous page at @addr (touched, private) is pinned for
 * DMA: fork() gives the child its own copy of such a page at once, where
 * an unpinned page is shared copy-on-write (folio_maybe_dma_pinned() in
 * copy_present_pte()). So a child that reads its PFN without touching the
 * page sees a different one exactly when the page is pinned. Per page and
 * per process: what other processes pin does not matter. The child must
 * not touch the page. Returns 1, 0, or -1 when it cannot tell (not root,
 * page not present).
 */
static inline int page_pinned(const void *addr)
{
	uint64_t mine = page_pfn(addr), theirs = 0;
	int fds[2], st;
	pid_t pid;

	if (!mine || pipe(fds))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!pid) {
		theirs = page_pfn(addr);
		_exit(write(fds[1], &theirs, sizeof(theirs)) == sizeof(theirs) ? 0 : 1);
	}
	close(fds[1]);
	if (read(fds[0], &theirs, sizeof(theirs)) != sizeof(theirs))
		theirs = 0;
	close(fds[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) || !theirs)
		return -1;
	return theirs != mine;
}

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * Read the kernel log by sequence number, through /dev/kmsg, so that a
 * check of "what the kernel said since X" can tell when part of it was
 * overwritten instead of silently checking less.
 *
 *   kmsg mark TEXT    log TEXT and print the sequence number it got
 *   kmsg since SEQ    print every message after SEQ, one per line
 *
 * Exit status: 0, 2 on bad usage or I/O errors, 3 when messages after SEQ
 * were lost (the ring buffer wrapped past them, or SEQ is not in it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One /dev/kmsg record is at most this long (printk's CONSOLE_EXT_LOG_MAX). */
#define RECORD_MAX	8192

/*
 * Read the next record into @buf. Returns its sequence number, -1 at the
 * end of the log, -2 when records were lost before it (the reader is
 * moved on by the kernel; the next call reads the oldest one left).
 */
static long long next_record(int fd, char *buf, char **text)
{
	unsigned long long seq;
	ssize_t n;
	char *semi;

	n = read(fd, buf, RECORD_MAX - 1);
	if (n < 0) {
		if (errno == EAGAIN)
			return -1;
		if (errno == EPIPE)
			return -2;
		perror("kmsg: read /dev/kmsg");
		exit(2);
	}
	buf[n] = '\0';
	/* "prio,seq,usec,flags[,...];text\n[ KEY=VALUE\n]..." */
	if (sscanf(buf, "%*u,%llu,", &seq) != 1 || !(semi = strchr(buf, ';'))) {
		fprintf(stderr, "kmsg: malformed record '%.40s'\n", buf);
		exit(2);
	}
	*text = semi + 1;
	(*text)[strcspn(*text, "\n")] = '\0';
	return seq;
}

static int open_kmsg(int flags)
{
	int fd = open("/dev/kmsg", flags);

	if (fd < 0) {
		perror("kmsg: open /dev/kmsg");
		exit(2);
	}
	return fd;
}

/* Log @text, then find it from the start of the log and print its number. */
static int mark(const char *text)
{
	char buf[RECORD_MAX], line[RECORD_MAX], *t;
	long long seq, found = -1;
	int fd = open_kmsg(O_RDWR | O_NONBLOCK);

	/*
	 * With its newline: a record without one stays open for a
	 * continuation, and a reader does not see it until the next message
	 * (Debian 12's 6.1 shows that).
	 */
	snprintf(line, sizeof(line), "%s\n", text);
	if (write(fd, line, strlen(line)) < 0) {
		perror("kmsg: write /dev/kmsg");
		return 2;
	}
	while ((seq = next_record(fd, buf, &t)) != -1)
		if (seq >= 0 && !strcmp(t, text))
			found = seq;
	close(fd);
	if (found < 0) {
		fprintf(stderr, "kmsg: '%s' is not in the log after writing it\n", text);
		return 3;
	}
	printf("%lld\n", found);
	return 0;
}

static int since(long long from)
{
	char buf[RECORD_MAX], *t;
	long long seq, want = from + 1;
	int fd = open_kmsg(O_RDONLY | O_NONBLOCK), lost = 0;

	/*
	 * The reader starts at the oldest record still in the buffer, and
	 * after a loss (-2) the kernel moves it on to the oldest one left: a
	 * gap in the numbers after @from is exactly what was lost.
	 */
	while ((seq = next_record(fd, buf, &t)) != -1) {
		if (seq < 0 || seq <= from)
			continue;
		if (seq > want)
			lost = 1;
		want = seq + 1;
		printf("%s\n", t);
	}
	close(fd);
	if (lost) {
		fprintf(stderr, "kmsg: kernel messages after #%lld were lost (log buffer wrapped)\n",
			from);
		return 3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char *end;
	long long from;

	if (argc == 3 && !strcmp(argv[1], "mark") && argv[2][0])
		return mark(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "since")) {
		errno = 0;
		from = strtoll(argv[2], &end, 10);
		if (!errno && *argv[2] && !*end && from >= -1)
			return since(from);
	}
	fprintf(stderr, "usage: kmsg mark TEXT | kmsg since SEQ (SEQ >= -1)\n");
	return 2;
}

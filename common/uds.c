/* SPDX-License-Identifier: Apache-2.0 */
#include "uds.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int uds_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll() for events until the deadline, riding out EINTR. */
static int wait_for(int fd, short events, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		long left = deadline - now_ms();
		int n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int uds_recv_timeout(int fd, void *buf, size_t cap, int timeout_ms, struct fdpass_msg *m)
{
	int ret = wait_for(fd, POLLIN, timeout_ms);

	if (ret) {
		memset(m, 0, sizeof(*m));
		return ret;
	}
	/* POLLHUP with no data left reads as 0 bytes: end of stream */
	return fdpass_recv(fd, buf, cap, MSG_DONTWAIT, m);
}

int uds_send_timeout(int fd, const void *buf, size_t len, const int *fds, size_t nfds,
		     int timeout_ms)
{
	int ret = wait_for(fd, POLLOUT, timeout_ms);

	if (ret)
		return ret;
	return fdpass_send(fd, buf, len, fds, nfds, MSG_DONTWAIT);
}

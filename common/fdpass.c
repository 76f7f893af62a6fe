/* SPDX-License-Identifier: Apache-2.0 */
#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * Room for the fds plus one SCM_CREDENTIALS, which the kernel puts first
 * when the receiver has SO_PASSCRED: it must not crowd out a single fd.
 */
union cmsg_buf {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred))];
};

void fdpass_close_fds(struct fdpass_msg *m)
{
	size_t i;

	for (i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

int fdpass_recv(int sock, void *buf, size_t cap, int flags, struct fdpass_msg *m)
{
	union cmsg_buf cb;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cb.buf,
		.msg_controllen = sizeof(cb.buf),
	};
	struct cmsghdr *c;
	ssize_t n;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;

	/* Take ownership of every fd first, so each error path below closes them. */
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t payload, k, count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			m->other_cmsgs++;
			continue;
		}
		if (c->cmsg_len < CMSG_LEN(0)) {
			ret = -EBADMSG;
			continue;
		}
		payload = c->cmsg_len - CMSG_LEN(0);
		if (payload % sizeof(int))
			ret = -EBADMSG;
		count = payload / sizeof(int);
		for (k = 0; k < count; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			/* the buffer has room for a few more than we accept: close those */
			if (m->nfds < FDPASS_MAX_FDS) {
				m->fds[m->nfds++] = fd;
			} else {
				close(fd);
				ret = -ENOBUFS;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		ret = -ENOBUFS;
	else if (!ret && (mh.msg_flags & MSG_TRUNC))
		ret = -EMSGSIZE;
	if (ret) {
		fdpass_close_fds(m);
		return ret;
	}
	m->len = (size_t)n;
	return 0;
}

int fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags)
{
	union cmsg_buf cb;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > FDPASS_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EMSGSIZE;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* fdpass: one datagram plus SCM_RIGHTS fds over AF_UNIX SOCK_SEQPACKET. */
#include "fdpass.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tap.h"

static int pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

static void close_pair(int sv[2])
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	sv[0] = sv[1] = -1;
}

/* An unlinked temporary file, so it has its own inode to compare. */
static int temp_file(void)
{
	char path[] = "/tmp/test_fdpass.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd >= 0)
		unlink(path);
	return fd;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static bool fd_valid(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* sendmsg with an arbitrary number of fds, bypassing fdpass_send's limit. */
static int raw_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} cb;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfds > 32)
		return -EINVAL;
	memset(&cb, 0, sizeof(cb));
	mh.msg_control = cb.buf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int send_creds(int sock, const void *buf, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} cb;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct ucred cred = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
	struct cmsghdr *c;

	memset(&cb, 0, sizeof(cb));
	mh.msg_control = cb.buf;
	mh.msg_controllen = sizeof(cb.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cred));
	memcpy(CMSG_DATA(c), &cred, sizeof(cred));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void case_one_fd(void)
{
	int sv[2] = { -1, -1 }, f = temp_file();
	struct fdpass_msg m;
	char buf[64];
	int ret;

	if (!ok(pair(sv) == 0 && f >= 0, "one fd: setup")) {
		close_pair(sv);
		return;
	}
	is_int(fdpass_send(sv[0], "hi", 2, &f, 1, 0), 0, "one fd: fdpass_send returns 0");
	memset(buf, 0, sizeof(buf));
	ret = fdpass_recv(sv[1], buf, sizeof(buf), 0, &m);
	is_int(ret, 0, "one fd: fdpass_recv returns 0");
	is_mem(buf, m.len, "hi", 2, "one fd: payload \"hi\", len 2");
	is_int(m.nfds, 1, "one fd: nfds 1");
	is_int(m.other_cmsgs, 0, "one fd: no other control messages");
	if (m.nfds == 1) {
		ok(m.fds[0] >= 0 && m.fds[0] != f, "one fd: received fd %d differs from sent fd %d",
		   m.fds[0], f);
		ok(same_file(m.fds[0], f), "one fd: same file (fstat dev/ino)");
		ok(is_cloexec(m.fds[0]), "one fd: received fd has FD_CLOEXEC");
	}
	fdpass_close_fds(&m);
	ok(m.nfds == 0 && m.fds[0] == -1, "one fd: fdpass_close_fds forgets the fds");
	close(f);
	close_pair(sv);
}

static void case_no_fd(void)
{
	int sv[2] = { -1, -1 };
	struct fdpass_msg m;
	char buf[64];

	if (!ok(pair(sv) == 0, "no fd: setup"))
		return;
	is_int(fdpass_send(sv[0], "abc", 3, NULL, 0, 0), 0, "no fd: fdpass_send returns 0");
	is_int(fdpass_recv(sv[1], buf, sizeof(buf), 0, &m), 0, "no fd: fdpass_recv returns 0");
	is_mem(buf, m.len, "abc", 3, "no fd: payload \"abc\"");
	is_int(m.nfds, 0, "no fd: nfds 0");
	is_int(m.other_cmsgs, 0, "no fd: no other control messages");
	close_pair(sv);
}

static void case_two_fds(void)
{
	int sv[2] = { -1, -1 }, p[2] = { -1, -1 };
	struct fdpass_msg m;
	char buf[64], c = 0;

	if (!ok(pair(sv) == 0 && pipe2(p, O_CLOEXEC) == 0, "two fds: setup")) {
		close_pair(sv);
		return;
	}
	is_int(fdpass_send(sv[0], "2", 1, p, 2, 0), 0, "two fds: fdpass_send returns 0");
	is_int(fdpass_recv(sv[1], buf, sizeof(buf), 0, &m), 0, "two fds: fdpass_recv returns 0");
	is_int(m.nfds, 2, "two fds: nfds 2");
	if (m.nfds == 2) {
		ok(fd_valid(m.fds[0]) && fd_valid(m.fds[1]) && m.fds[0] != m.fds[1],
		   "two fds: both valid and distinct");
		ok(is_cloexec(m.fds[0]) && is_cloexec(m.fds[1]), "two fds: both FD_CLOEXEC");
		ok(same_file(m.fds[0], p[0]) && same_file(m.fds[1], p[1]),
		   "two fds: in the order sent");
		/* the received write end feeds the received read end */
		ok(write(m.fds[1], "z", 1) == 1 && read(m.fds[0], &c, 1) == 1 && c == 'z',
		   "two fds: received pipe ends work");
	}
	fdpass_close_fds(&m);
	close(p[0]);
	close(p[1]);
	close_pair(sv);
}

static void case_max_fds(void)
{
	int sv[2] = { -1, -1 }, fds[FDPASS_MAX_FDS], f = temp_file();
	struct fdpass_msg m;
	char buf[16];
	size_t i, good = 0;

	if (!ok(pair(sv) == 0 && f >= 0, "%d fds: setup", FDPASS_MAX_FDS)) {
		close_pair(sv);
		return;
	}
	for (i = 0; i < FDPASS_MAX_FDS; i++)
		fds[i] = f;
	is_int(fdpass_send(sv[0], "m", 1, fds, FDPASS_MAX_FDS, 0), 0,
	       "FDPASS_MAX_FDS (%d) fds: fdpass_send returns 0", FDPASS_MAX_FDS);
	is_int(fdpass_recv(sv[1], buf, sizeof(buf), 0, &m), 0,
	       "FDPASS_MAX_FDS fds: fdpass_recv returns 0");
	is_int(m.nfds, FDPASS_MAX_FDS, "FDPASS_MAX_FDS fds: all arrive");
	for (i = 0; i < m.nfds; i++)
		good += same_file(m.fds[i], f) && is_cloexec(m.fds[i]);
	is_int(good, FDPASS_MAX_FDS, "FDPASS_MAX_FDS fds: all the same file and close-on-exec");
	fdpass_close_fds(&m);
	close(f);
	close_pair(sv);
}

static void case_too_many_fds(void)
{
	int sv[2] = { -1, -1 }, fds[FDPASS_MAX_FDS + 1], f = temp_file();
	struct fdpass_msg m;
	char buf[16];
	size_t i;
	int ret;

	if (!ok(pair(sv) == 0 && f >= 0, "too many fds: setup")) {
		close_pair(sv);
		return;
	}
	for (i = 0; i < FDPASS_MAX_FDS + 1; i++)
		fds[i] = f;
	ok(fdpass_send(sv[0], "x", 1, fds, FDPASS_MAX_FDS + 1, 0) < 0,
	   "fdpass_send refuses %d fds", FDPASS_MAX_FDS + 1);
	is_int(raw_send_fds(sv[0], "x", 1, fds, FDPASS_MAX_FDS + 1), 0,
	       "raw sendmsg with %d fds", FDPASS_MAX_FDS + 1);
	close(f);
	ret = fdpass_recv(sv[1], buf, sizeof(buf), 0, &m);
	is_int(ret, -ENOBUFS, "%d fds: fdpass_recv returns -ENOBUFS", FDPASS_MAX_FDS + 1);
	is_int(m.nfds, 0, "%d fds: no fds handed out", FDPASS_MAX_FDS + 1);

	/* the socket stays usable for the next datagram */
	fdpass_send(sv[0], "next", 4, NULL, 0, 0);
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	ok(ret == 0 && m.len == 4 && !memcmp(buf, "next", 4),
	   "after -ENOBUFS the next datagram is received intact");
	close_pair(sv);
}

static void case_too_long(void)
{
	int sv[2] = { -1, -1 }, p[2] = { -1, -1 };
	struct fdpass_msg m;
	char big[100], buf[16];
	int ret;

	if (!ok(pair(sv) == 0 && pipe2(p, O_CLOEXEC) == 0, "too long: setup")) {
		close_pair(sv);
		return;
	}
	memset(big, 'B', sizeof(big));
	is_int(fdpass_send(sv[0], big, sizeof(big), p, 2, 0), 0,
	       "too long: send 100 bytes with 2 fds");
	close(p[0]);
	close(p[1]);
	ret = fdpass_recv(sv[1], buf, 10, 0, &m);
	is_int(ret, -EMSGSIZE, "too long: 100 bytes into cap 10 -> -EMSGSIZE");
	is_int(m.nfds, 0, "too long: no fds handed out");

	fdpass_send(sv[0], "next", 4, NULL, 0, 0);
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	ok(ret == 0 && m.len == 4 && !memcmp(buf, "next", 4),
	   "after -EMSGSIZE the rest of the long datagram is gone, the next one intact");

	/* exactly cap bytes is not truncation */
	fdpass_send(sv[0], big, 10, NULL, 0, 0);
	ret = fdpass_recv(sv[1], buf, 10, MSG_DONTWAIT, &m);
	ok(ret == 0 && m.len == 10, "a datagram of exactly cap bytes is received (ret %d)", ret);
	close_pair(sv);
}

static void case_zero_length(void)
{
	int sv[2] = { -1, -1 }, f = temp_file();
	struct fdpass_msg m;
	char buf[16];
	int ret;

	if (!ok(pair(sv) == 0 && f >= 0, "zero length: setup")) {
		close_pair(sv);
		return;
	}
	is_int(fdpass_send(sv[0], "", 0, NULL, 0, 0), 0, "zero length: fdpass_send returns 0");
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	ok(ret == 0 && m.len == 0 && m.nfds == 0, "zero-length datagram: ret 0, len 0, no fds");

	is_int(fdpass_send(sv[0], "", 0, &f, 1, 0), 0, "zero length with an fd: send");
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	ok(ret == 0 && m.len == 0 && m.nfds == 1 && same_file(m.fds[0], f),
	   "zero-length datagram with an fd: len 0, the fd arrives (ret %d, nfds %zu)", ret,
	   m.nfds);
	fdpass_close_fds(&m);

	/* the stream did not end: a following datagram still arrives */
	fdpass_send(sv[0], "y", 1, NULL, 0, 0);
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	ok(ret == 0 && m.len == 1 && buf[0] == 'y', "after zero-length datagrams the socket works");
	close(f);
	close_pair(sv);
}

static void case_credentials(void)
{
	int sv[2] = { -1, -1 }, one = 1, f = temp_file();
	struct fdpass_msg m;
	char buf[16];
	int ret;

	if (!ok(pair(sv) == 0 && f >= 0 &&
		setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0,
		"credentials: setup (SO_PASSCRED on the receiver)")) {
		close_pair(sv);
		return;
	}
	is_int(send_creds(sv[0], "c", 1), 0, "credentials: sendmsg with SCM_CREDENTIALS");
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	is_int(ret, 0, "SCM_CREDENTIALS: fdpass_recv returns 0");
	ok(m.other_cmsgs >= 1, "SCM_CREDENTIALS: counted in other_cmsgs (%zu)", m.other_cmsgs);
	ok(m.len == 1 && buf[0] == 'c' && m.nfds == 0, "SCM_CREDENTIALS: payload intact, no fds");

	/*
	 * other_cmsgs promises that foreign control messages are ignored. With
	 * SO_PASSCRED the kernel attaches SCM_CREDENTIALS to every message, ahead
	 * of SCM_RIGHTS, so the control buffer needs room for both.
	 */
	is_int(fdpass_send(sv[0], "d", 1, &f, 1, 0), 0, "credentials plus one fd: fdpass_send");
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	is_int(ret, 0, "SCM_CREDENTIALS plus one fd: fdpass_recv returns 0");
	ok(m.nfds == 1 && same_file(m.fds[0], f) && m.other_cmsgs >= 1,
	   "SCM_CREDENTIALS plus one fd: fd arrives, creds counted (nfds %zu, other %zu)",
	   m.nfds, m.other_cmsgs);
	fdpass_close_fds(&m);
	close(f);
	close_pair(sv);
}

static void case_peer_closed(void)
{
	int sv[2] = { -1, -1 };
	struct fdpass_msg m;
	char buf[16];
	int ret;

	if (!ok(pair(sv) == 0, "peer closed: setup"))
		return;
	fdpass_send(sv[0], "last", 4, NULL, 0, 0);
	close(sv[0]);
	sv[0] = -1;
	ret = fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m);
	ok(ret == 0 && m.len == 4, "peer closed: a queued datagram is still delivered");
	ret = fdpass_recv(sv[1], buf, sizeof(buf), 0, &m);
	ok(ret == 0 && m.len == 0 && m.nfds == 0, "peer closed: ret 0, len 0, no fds (ret %d)",
	   ret);
	close_pair(sv);
}

static void case_eagain(void)
{
	int sv[2] = { -1, -1 };
	struct fdpass_msg m;
	char buf[16];

	if (!ok(pair(sv) == 0, "EAGAIN: setup"))
		return;
	is_int(fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &m), -EAGAIN,
	       "empty socket with MSG_DONTWAIT -> -EAGAIN");
	is_int(fdpass_recv(-1, buf, sizeof(buf), 0, &m), -EBADF, "bad socket -> -EBADF");
	close_pair(sv);
}

/* Runs one case and checks it left the process's fd table as it found it. */
static void run(const char *name, void (*fn)(void))
{
	int before = count_fds();

	fn();
	is_int(count_fds(), before, "%s: no fd leaked", name);
}

int main(void)
{
	run("one fd", case_one_fd);
	run("no fd", case_no_fd);
	run("two fds", case_two_fds);
	run("max fds", case_max_fds);
	run("too many fds", case_too_many_fds);
	run("too long", case_too_long);
	run("zero length", case_zero_length);
	run("credentials", case_credentials);
	run("peer closed", case_peer_closed);
	run("EAGAIN", case_eagain);
	return done_testing();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* netns helpers that need no privileges, and log_quote. */
#include "ifflags.h"
#include "log.h"
#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- namespace file checks --------------------------------------------- */

static void test_ns_fd(void)
{
	int fd, sv[2], p[2];
	char tmp[] = "/tmp/test_netns.XXXXXX";

	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ok(fd >= 0, "open /proc/self/ns/net")) {
		is_int(ns_fd_type(fd), CLONE_NEWNET, "ns_fd_type(net ns) == CLONE_NEWNET");
		is_int(netns_check_fd(fd), 0, "netns_check_fd(net ns) == 0");
		close(fd);
	}
	fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	if (ok(fd >= 0, "open /proc/self/ns/uts")) {
		is_int(ns_fd_type(fd), CLONE_NEWUTS, "ns_fd_type(uts ns) == CLONE_NEWUTS");
		is_str(ns_type_name(ns_fd_type(fd)), "uts",
		       "ns_type_name of the uts ns fd is \"uts\"");
		is_int(netns_check_fd(fd), -EINVAL, "netns_check_fd(uts ns) == -EINVAL");
		close(fd);
	}

	fd = mkostemp(tmp, O_CLOEXEC);
	if (ok(fd >= 0, "create a regular temp file")) {
		is_int(ns_fd_type(fd), -ENOTTY, "ns_fd_type(regular file) == -ENOTTY");
		is_int(netns_check_fd(fd), -ENOTTY, "netns_check_fd(regular file) == -ENOTTY");
		close(fd);
	}
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		is_int(netns_check_fd(fd), -ENOTTY, "netns_check_fd(/etc/hostname) == -ENOTTY");
		close(fd);
	}
	fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ok(fd >= 0, "open /tmp as a directory")) {
		is_int(ns_fd_type(fd), -ENOTTY, "ns_fd_type(directory) == -ENOTTY");
		is_int(netns_check_fd(fd), -ENOTTY, "netns_check_fd(directory) == -ENOTTY");
		close(fd);
	}
	/* the nsfs directory itself is procfs, not a namespace */
	fd = open("/proc/self/ns", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ok(fd >= 0, "open /proc/self/ns directory")) {
		is_int(netns_check_fd(fd), -ENOTTY, "netns_check_fd(/proc/self/ns dir) == -ENOTTY");
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ok(fd >= 0, "open /dev/null")) {
		is_int(netns_check_fd(fd), -ENOTTY, "netns_check_fd(/dev/null) == -ENOTTY");
		close(fd);
	}
	if (ok(pipe2(p, O_CLOEXEC) == 0, "create a pipe")) {
		is_int(ns_fd_type(p[0]), -ENOTTY, "ns_fd_type(pipe) == -ENOTTY");
		is_int(netns_check_fd(p[1]), -ENOTTY, "netns_check_fd(pipe) == -ENOTTY");
		close(p[0]);
		close(p[1]);
	}
	if (ok(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0,
	       "create a socketpair")) {
		is_int(ns_fd_type(sv[0]), -ENOTTY, "ns_fd_type(unix socket) == -ENOTTY");
		is_int(netns_check_fd(sv[0]), -ENOTTY, "netns_check_fd(unix socket) == -ENOTTY");
		close(sv[0]);
		close(sv[1]);
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		is_int(netns_check_fd(fd), -ENOTTY, "netns_check_fd(inet socket) == -ENOTTY");
		close(fd);
	}
	ok(netns_check_fd(-1) < 0 && netns_check_fd(-1) != -ENOTTY,
	   "netns_check_fd(-1) fails with its own errno (%d)", netns_check_fd(-1));

	/* check the remaining namespace kinds this process can open */
	{
		static const struct {
			const char *file;
			int type;
			const char *name;
		} kinds[] = {
			{ "ipc", CLONE_NEWIPC, "ipc" },	      { "mnt", CLONE_NEWNS, "mnt" },
			{ "pid", CLONE_NEWPID, "pid" },	      { "user", CLONE_NEWUSER, "user" },
			{ "cgroup", CLONE_NEWCGROUP, "cgroup" },
		};
		size_t i;

		for (i = 0; i < N(kinds); i++) {
			char path[64];

			snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i].file);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ok(ns_fd_type(fd) == kinds[i].type && netns_check_fd(fd) == -EINVAL,
			   "%s: ns_fd_type %s, netns_check_fd -EINVAL", path, kinds[i].name);
			close(fd);
		}
	}
	unlink(tmp);
}

static void test_ns_type_name(void)
{
	is_str(ns_type_name(CLONE_NEWNET), "net", "ns_type_name(CLONE_NEWNET)");
	is_str(ns_type_name(CLONE_NEWUTS), "uts", "ns_type_name(CLONE_NEWUTS)");
	is_str(ns_type_name(CLONE_NEWIPC), "ipc", "ns_type_name(CLONE_NEWIPC)");
	is_str(ns_type_name(CLONE_NEWNS), "mnt", "ns_type_name(CLONE_NEWNS)");
	is_str(ns_type_name(CLONE_NEWPID), "pid", "ns_type_name(CLONE_NEWPID)");
	is_str(ns_type_name(CLONE_NEWUSER), "user", "ns_type_name(CLONE_NEWUSER)");
	is_str(ns_type_name(CLONE_NEWCGROUP), "cgroup", "ns_type_name(CLONE_NEWCGROUP)");
	is_str(ns_type_name(0), "unknown", "ns_type_name(0)");
	is_str(ns_type_name(-ENOTTY), "unknown", "ns_type_name(-ENOTTY)");
}

static void test_open_path(void)
{
	char tmp[] = "/tmp/test_netns.XXXXXX";
	char path[64];
	int before = count_fds(), fd, tfd, p[2] = { -1, -1 }, sv[2] = { -1, -1 };
	int fl;

	is_int(netns_open_path("/nonexistent/test_netns/ns", NULL), -ENOENT,
	       "netns_open_path(missing) == -ENOENT");
	fd = netns_open_path("/proc/self/ns/net", NULL);
	ok(fd >= 0, "netns_open_path(/proc/self/ns/net) returns an fd (%d)", fd);
	if (fd >= 0) {
		fl = fcntl(fd, F_GETFD);
		ok(fl >= 0 && (fl & FD_CLOEXEC), "netns_open_path fd has FD_CLOEXEC");
		is_int(netns_check_fd(fd), 0, "netns_open_path fd is a netns");
		close(fd);
	}
	is_int(netns_open_path("/proc/self/ns/uts", NULL), -EINVAL, "netns_open_path(uts ns) == -EINVAL");
	{
		int t = 0;

		netns_open_path("/proc/self/ns/uts", &t);
		is_int(t, CLONE_NEWUTS, "netns_open_path(uts ns) reports the kind it found");
	}
	is_int(netns_open_path("/tmp", NULL), -ENOTTY, "netns_open_path(directory) == -ENOTTY");
	if (access("/etc/hostname", R_OK) == 0)
		is_int(netns_open_path("/etc/hostname", NULL), -ENOTTY,
		       "netns_open_path(/etc/hostname) == -ENOTTY");
	tfd = mkostemp(tmp, O_CLOEXEC);
	if (ok(tfd >= 0, "create a regular temp file")) {
		is_int(netns_open_path(tmp, NULL), -ENOTTY, "netns_open_path(regular file) == -ENOTTY");
		close(tfd);
		unlink(tmp);
	}
	if (ok(pipe2(p, O_CLOEXEC) == 0, "create a pipe")) {
		/* reopening a pipe through /proc does not block: a writer exists */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
		is_int(netns_open_path(path, NULL), -ENOTTY,
		       "netns_open_path(pipe via /proc/self/fd) == -ENOTTY");
		close(p[0]);
		close(p[1]);
	}
	if (ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
	       "create a socketpair")) {
		/* sockets cannot be opened by path at all */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", sv[0]);
		is_int(netns_open_path(path, NULL), -ENXIO,
		       "netns_open_path(socket via /proc/self/fd) == -ENXIO");
		close(sv[0]);
		close(sv[1]);
	}
	is_int(count_fds(), before, "netns_open_path: no fd leaked on any path");
}

static void test_ids(void)
{
	struct netns_id a, b, c, u;
	struct stat st;
	int fd, ufd;

	ok(stat("/proc/self/ns/net", &st) == 0, "stat /proc/self/ns/net");
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	memset(&a, 0, sizeof(a));
	is_int(netns_fd_id(fd, &a), 0, "netns_fd_id returns 0");
	ok(a.dev == st.st_dev && a.ino == st.st_ino,
	   "netns_fd_id equals stat() of /proc/self/ns/net");
	memset(&b, 0, sizeof(b));
	is_int(netns_current_id(&b), 0, "netns_current_id returns 0");
	ok(netns_id_eq(&a, &b), "netns_current_id matches netns_fd_id");
	close(fd);

	fd = netns_open_current();
	ok(fd >= 0 && netns_check_fd(fd) == 0, "netns_open_current returns a netns fd");
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFD);

		ok(fl >= 0 && (fl & FD_CLOEXEC), "netns_open_current fd has FD_CLOEXEC");
		ok(netns_fd_id(fd, &c) == 0 && netns_id_eq(&a, &c),
		   "netns_open_current id matches");
		close(fd);
	}

	ufd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	ok(ufd >= 0 && netns_fd_id(ufd, &u) == 0 && !netns_id_eq(&a, &u),
	   "the uts namespace has a different id");
	if (ufd >= 0)
		close(ufd);
	is_int(netns_fd_id(-1, &c), -EBADF, "netns_fd_id(-1) == -EBADF");
}

/* ---- netns_return ------------------------------------------------------ */

static void test_return(void)
{
	struct netns_id home, now, other;
	int fd = netns_open_current(), ret;

	ok(fd >= 0 && netns_fd_id(fd, &home) == 0, "netns_return: the home fd and its id");
	if (fd < 0)
		return;
	other = home;
	other.ino++;
	is_int(netns_return(fd, &other), -EIO,
	       "netns_return refuses an fd that is not home's namespace (a reused number)");
	is_int(netns_return(-1, &home), -EBADF, "netns_return(-1) == -EBADF");
	/* a plain user may not setns at all: then the setns error comes back */
	ret = netns_return(fd, &home);
	ok(ret == 0 || ret == -EPERM, "netns_return home: 0, or -EPERM without CAP_SYS_ADMIN (%d)", ret);
	ok(netns_current_id(&now) == 0 && netns_id_eq(&now, &home), "netns_return: still home after");
	close(fd);
}

/* ---- ifflags ------------------------------------------------------------ */

static void test_ifflags(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), own, ret;
	bool up = false;

	ok(fd >= 0, "ifflags: a socket to ask through");
	if (fd < 0)
		return;
	/* every mode brings lo up in the netns it runs in (run.sh, lib.sh) */
	ok(if_is_up(fd, "lo", &up) == 0 && up, "if_is_up(lo): up");
	is_int(if_is_up(fd, "zeNoSuchIf0", &up), -ENODEV, "if_is_up: a missing interface is -ENODEV");
	is_int(if_is_up(fd, "a-name-longer-than-ifnamsiz", &up), -EINVAL,
	       "if_is_up: a name longer than IFNAMSIZ is -EINVAL");
	close(fd);
	own = netns_open_current();
	ret = own >= 0 ? if_is_up_in(own, "lo") : own;
	ok(ret == 1 || ret == -EPERM, "if_is_up_in(own netns, lo): 1, or -EPERM without CAP_SYS_ADMIN (%d)",
	   ret);
	if (own >= 0)
		close(own);
}

/* ---- netns_resolve ----------------------------------------------------- */

static void resolve_case(const char *spec, int want_ret, const char *want_path,
			 const char *want_name)
{
	char path[PATH_MAX];
	const char *name = "unset";
	int ret;

	memset(path, 0, sizeof(path));
	ret = netns_resolve(spec, path, sizeof(path), &name);
	if (want_ret) {
		is_int(ret, want_ret, "netns_resolve(\"%.16s%s\") (%zu bytes) fails with %d", spec,
		       strlen(spec) > 16 ? "..." : "", strlen(spec), want_ret);
		return;
	}
	ok(ret == 0 && !strcmp(path, want_path) &&
	   ((!name && !want_name) || (name && want_name && !strcmp(name, want_name))),
	   "netns_resolve(\"%s\") -> %s, name %s", spec, want_path, want_name ? want_name : "NULL");
	if (ret || strcmp(path, want_path) || (!name) != (!want_name) ||
	    (name && want_name && strcmp(name, want_name)))
		diag("got ret %d, path \"%s\", name %s%s%s", ret, path, name ? "\"" : "",
		     name ? name : "NULL", name ? "\"" : "");
}

static void test_resolve(void)
{
	static char longspec[PATH_MAX + 100];
	char path[32];
	const char *name;

	resolve_case("ns2", 0, "/run/netns/ns2", "ns2");
	resolve_case("/var/run/netns/ns2", 0, "/var/run/netns/ns2", "ns2");
	resolve_case("/run/netns/ns2", 0, "/run/netns/ns2", "ns2");
	resolve_case("/tmp/x", 0, "/tmp/x", NULL);
	resolve_case("1234", 0, "/proc/1234/ns/net", NULL);
	resolve_case("0", 0, "/proc/0/ns/net", NULL);
	resolve_case("12a", 0, "/run/netns/12a", "12a");
	resolve_case("cni-1d2c-3e4f", 0, "/run/netns/cni-1d2c-3e4f", "cni-1d2c-3e4f");
	resolve_case("/proc/1/ns/net", 0, "/proc/1/ns/net", NULL);
	resolve_case("./ns2", 0, "./ns2", NULL);
	resolve_case("run/netns/ns2", 0, "run/netns/ns2", NULL);
	resolve_case("/run/netns/", 0, "/run/netns/", NULL);
	resolve_case("/run/netns/a/b", 0, "/run/netns/a/b", NULL);
	resolve_case("/run/netnsX/ns2", 0, "/run/netnsX/ns2", NULL);
	/* ".." and "." are refused as names, so a path ending in them names none */
	resolve_case("/run/netns/..", 0, "/run/netns/..", NULL);
	resolve_case("/var/run/netns/.", 0, "/var/run/netns/.", NULL);
	resolve_case("", -EINVAL, NULL, NULL);
	resolve_case(".", -EINVAL, NULL, NULL);
	resolve_case("..", -EINVAL, NULL, NULL);

	memset(longspec, 'a', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = '\0';
	resolve_case(longspec, -ENAMETOOLONG, NULL, NULL);
	longspec[0] = '/';
	resolve_case(longspec, -ENAMETOOLONG, NULL, NULL);
	memset(longspec, '7', sizeof(longspec) - 1);
	resolve_case(longspec, -ENAMETOOLONG, NULL, NULL);

	/* "/run/netns/ns2" is 14 bytes: 15 fits with the NUL, 14 does not */
	memset(path, 'Z', sizeof(path));
	ok(netns_resolve("ns2", path, 15, &name) == 0 && !strcmp(path, "/run/netns/ns2"),
	   "netns_resolve with cap exactly strlen+1 succeeds");
	memset(path, 'Z', sizeof(path));
	ok(netns_resolve("ns2", path, 14, &name) == -ENAMETOOLONG && path[14] == 'Z',
	   "netns_resolve with cap strlen -> -ENAMETOOLONG, nothing written past cap");
	ok(netns_resolve("/tmp/x", path, 6, &name) == -ENAMETOOLONG,
	   "netns_resolve path spec with cap strlen -> -ENAMETOOLONG");
	ok(netns_resolve("1234", path, 17, &name) == -ENAMETOOLONG,
	   "netns_resolve pid spec with cap strlen -> -ENAMETOOLONG");
}

/* ---- log_quote --------------------------------------------------------- */

static void quote_is(const char *s, size_t len, const char *want, const char *desc)
{
	char buf[256];
	const char *r = log_quote(buf, sizeof(buf), s, len);

	ok(r == buf, "log_quote returns dst (%s)", desc);
	is_str(buf, want, "log_quote %s", desc);
}

/* Returns false (with a diagnostic) when any cap from 0..maxcap misbehaves. */
static bool quote_caps(const char *s, size_t len, size_t maxcap, bool *fits_ok)
{
	char full[4096], buf[4200];
	size_t cap, flen;
	bool good = true;

	log_quote(full, sizeof(full), s, len);
	flen = strlen(full);
	*fits_ok = true;
	for (cap = 0; cap <= maxcap && cap + 1 < sizeof(buf); cap++) {
		size_t rlen;

		memset(buf, 'G', sizeof(buf));
		buf[cap] = (char)0xa5;	/* the guard right after dst[cap-1] */
		log_quote(buf, cap, s, len);
		if ((unsigned char)buf[cap] != 0xa5 || buf[cap + 1] != 'G') {
			diag("cap %zu: wrote past the end", cap);
			good = false;
			continue;
		}
		if (!cap)
			continue;
		rlen = strnlen(buf, cap);
		if (rlen >= cap) {
			diag("cap %zu: not NUL-terminated", cap);
			good = false;
			continue;
		}
		if (!strcmp(buf, full)) {
			continue;
		}
		/* truncated: the empty string, or '"', a prefix at an escape boundary, '..."' */
		if (rlen == 0)
			goto judged;
		if (rlen < 5 || buf[0] != '"' || strcmp(buf + rlen - 4, "...\"") ||
		    strncmp(buf, full, rlen - 4)) {
			diag("cap %zu: bad truncation: %.60s", cap, buf);
			good = false;
			continue;
		}
judged:
		if (cap > flen && *fits_ok) {
			diag("cap %zu: the full quoting (%zu bytes) fits, got %zu bytes: %.48s%s",
			     cap, flen, rlen, buf, rlen > 48 ? "..." : "");
			*fits_ok = false;
		}
	}
	return good;
}

static void test_log_quote(void)
{
	static const struct {
		const char *s;
		size_t len;
		const char *want;
		const char *desc;
	} q[] = {
		{ "abc", 3, "\"abc\"", "plain" },
		{ "", 0, "\"\"", "empty" },
		{ "say \"hi\"", 8, "\"say \\\"hi\\\"\"", "double quotes" },
		{ "a\\b", 3, "\"a\\\\b\"", "backslash" },
		{ "l1\nl2", 5, "\"l1\\nl2\"", "newline" },
		{ "a\rb\tc", 5, "\"a\\rb\\tc\"", "CR and tab" },
		{ "\x01", 1, "\"\\u{1}\"", "control 0x01 as \\u{1}" },
		{ "\x1b[31m", 5, "\"\\u{1b}[31m\"", "ESC as \\u{1b}" },
		{ "\x1f\x7f", 2, "\"\\u{1f}\\u{7f}\"", "0x1f and DEL as \\u{..}" },
		{ "uid=\"x\"\n2024-02-21T22:01:49Z  INFO forged", 41,
		  "\"uid=\\\"x\\\"\\n2024-02-21T22:01:49Z  INFO forged\"", "forged log line" },
		{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"", "UTF-8 passes through" },
		{ "abcdef", 3, "\"abc\"", "len, not strlen" },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < N(q); i++)
		quote_is(q[i].s, q[i].len, q[i].want, q[i].desc);

	/* an embedded NUL must be escaped, not end the string ("\0" in Rust) */
	log_quote(buf, sizeof(buf), "a\0b", 3);
	ok(!strcmp(buf, "\"a\\0b\"") || !strcmp(buf, "\"a\\u{0}b\""),
	   "log_quote escapes an embedded NUL (got %s)", buf);

	log_quote(buf, sizeof(buf), NULL, 0);
	is_str(buf, "\"\"", "log_quote(NULL, 0) is \"\"");

	/* long inputs: every cap keeps the guard byte and truncates cleanly */
	{
		static char longs[600];
		static const char mixed[] = "pod \"a\\b\"\n\x01\x7f-caf\xc3\xa9-end";
		bool fits, all_fit = true;

		memset(longs, 'x', sizeof(longs));
		ok(quote_caps(longs, sizeof(longs), 700, &fits),
		   "log_quote 600 plain bytes: caps 0..700 never overflow, always terminate, "
		   "truncate with ...\"");
		all_fit &= fits;
		memset(longs, '\n', sizeof(longs));
		ok(quote_caps(longs, 200, 450, &fits),
		   "log_quote 200 newlines: caps 0..450, escapes never split");
		all_fit &= fits;
		memset(longs, '\x02', sizeof(longs));
		ok(quote_caps(longs, 100, 650, &fits),
		   "log_quote 100 control bytes: caps 0..650, \\u{2} never split");
		all_fit &= fits;
		ok(quote_caps(mixed, sizeof(mixed) - 1, 80, &fits),
		   "log_quote mixed escapes: caps 0..80");
		all_fit &= fits;
		ok(quote_caps("abc", 3, 20, &fits), "log_quote \"abc\": caps 0..20");
		all_fit &= fits;
		/* "if needed": a quoting that fits in cap must come back whole */
		ok(all_fit, "log_quote truncates only when the full quoting does not fit in cap");
	}
	{
		char small[8];

		memset(small, 'G', sizeof(small));
		log_quote(small, 0, "abc", 3);
		ok(small[0] == 'G', "log_quote with cap 0 writes nothing");
		log_quote(small, 1, "abc", 3);
		ok(small[0] == '\0' && small[1] == 'G', "log_quote with cap 1 writes only the NUL");
	}
}

int main(void)
{
	test_ns_fd();
	test_ns_type_name();
	test_open_path();
	test_ids();
	test_return();
	test_ifflags();
	test_resolve();
	test_log_quote();
	return done_testing();
}

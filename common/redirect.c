/* SPDX-License-Identifier: Apache-2.0 */
#include "redirect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"
#include "nl.h"

/* iptables can wait on the xtables lock; a bound wait keeps a caller from hanging on it */
#define TOOL_TIMEOUT_MS 30000
#define TOOL_MAX_OUTPUT (64u << 20)
#define NL_BUF 32768
/* one attribute table for both rule (FRA_*) and route (RTA_*) dumps */
#define TB_MAX (FRA_MAX > RTA_MAX ? FRA_MAX : RTA_MAX)

/* ---- the rules, as shared/reference/inpod-rules.md gives them ---------------- */

struct rd_line {
	const char *table;
	const char *text;
	bool dns;	/* only with DNS capture */
};

/* Istio 1.21-1.23 (seeds/000); iptables commands turned into restore input, order kept per table */
static const struct rd_line tproxy_lines[] = {
	{ "mangle", "-N ISTIO_PRERT", false },
	{ "mangle", "-N ISTIO_OUTPUT", false },
	{ "mangle", "-A PREROUTING -j ISTIO_PRERT", false },
	{ "mangle", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "mangle", "-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_PRERT -s 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "mangle", "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -i lo -j ACCEPT", false },
	{ "mangle", "-A ISTIO_PRERT -p tcp -m tcp --dport 15008 -m mark ! --mark 0x539/0xfff -j TPROXY --on-port 15008 --tproxy-mark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_PRERT -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", false },
	{ "mangle", "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j TPROXY --on-port 15006 --tproxy-mark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff", false },
	{ "nat", "-N ISTIO_OUTPUT", false },
	{ "nat", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "nat", "-A ISTIO_OUTPUT -d 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -o lo -p udp -m udp --dport 53 -j REDIRECT --to-port 15053", true },
	{ "nat", "-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001", false },
	{ NULL, NULL, false },
};

/* Istio >= 1.24: istio-cni's own iptables-restore input; DNS capture off drops 15053 and raw */
static const struct rd_line redirect_lines[] = {
	{ "mangle", "-N ISTIO_PRERT", false },
	{ "mangle", "-N ISTIO_OUTPUT", false },
	{ "mangle", "-A PREROUTING -j ISTIO_PRERT", false },
	{ "mangle", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "mangle", "-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff", false },
	{ "mangle", "-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff", false },
	{ "nat", "-N ISTIO_PRERT", false },
	{ "nat", "-N ISTIO_OUTPUT", false },
	{ "nat", "-A OUTPUT -j ISTIO_OUTPUT", false },
	{ "nat", "-A PREROUTING -j ISTIO_PRERT", false },
	{ "nat", "-A ISTIO_PRERT -s 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT -d 169.254.7.127 -p tcp -m tcp -j ACCEPT", false },
	{ "nat", "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006", false },
	{ "nat", "-A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark 0x539/0xfff -m udp --dport 53 -j REDIRECT --to-port 15053", true },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp --dport 53 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15053", true },
	{ "nat", "-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT", false },
	{ "nat", "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001", false },
	{ "raw", "-N ISTIO_OUTPUT", true },
	{ "raw", "-N ISTIO_PRERT", true },
	{ "raw", "-A PREROUTING -j ISTIO_PRERT", true },
	{ "raw", "-A OUTPUT -j ISTIO_OUTPUT", true },
	{ "raw", "-A ISTIO_OUTPUT -p udp -m mark --mark 0x539/0xfff -m udp --dport 53 -j CT --zone 1", true },
	{ "raw", "-A ISTIO_PRERT -p udp -m mark ! --mark 0x539/0xfff -m udp --sport 53 -j CT --zone 1", true },
	{ NULL, NULL, false },
};

static const struct rd_line *variant_lines(enum rd_variant v)
{
	return v == RD_REDIRECT ? redirect_lines : tproxy_lines;
}

const char *rd_variant_name(enum rd_variant v)
{
	return v == RD_REDIRECT ? "redirect" : "tproxy";
}

int rd_variant_parse(const char *s, enum rd_variant *v)
{
	if (!strcmp(s, "tproxy"))
		*v = RD_TPROXY;
	else if (!strcmp(s, "redirect"))
		*v = RD_REDIRECT;
	else
		return -EINVAL;
	return 0;
}

int rd_rules_text(enum rd_variant v, bool dns_capture, char *buf, size_t cap)
{
	const struct rd_line *l, *lines = variant_lines(v);
	const char *table = NULL;
	size_t len = 0;
	int n;

	/* one "*table ... COMMIT" block per table; a table with no line left is omitted */
	for (l = lines; l->table; l++) {
		if (l->dns && !dns_capture)
			continue;
		if (!table || strcmp(table, l->table)) {
			n = snprintf(buf + len, len < cap ? cap - len : 0, "%s*%s\n", table ? "COMMIT\n" : "",
				     l->table);
			len += (size_t)n;
			table = l->table;
		}
		n = snprintf(buf + len, len < cap ? cap - len : 0, "%s\n", l->text);
		len += (size_t)n;
	}
	if (table) {
		n = snprintf(buf + len, len < cap ? cap - len : 0, "COMMIT\n");
		len += (size_t)n;
	}
	if (len >= cap)
		return -ENOBUFS;
	return (int)len;
}

/* ---- errors ------------------------------------------------------------------ */

static int fail(char *err, size_t cap, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t cap, int ret, const char *fmt, ...)
{
	va_list ap;

	if (cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* ---- a tool run inside the netns ------------------------------------------------ */

/*
 * Where the tools are: only the fixed system directories, never $PATH (a
 * relative entry such as "." would run whatever the caller's working
 * directory holds, as root), or the absolute path rd_set_tool() was given.
 */
static const char *const tool_dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
static char tool_restore_path[4096];

/* The child's whole environment: nothing of the caller's (XTABLES_LIBDIR, LD_*, ...). */
static char *const tool_env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };

int rd_set_tool(const char *tool, const char *path)
{
	if (strcmp(tool, "iptables-restore"))
		return -EINVAL;
	if (path[0] != '/')
		return -EINVAL;
	if (strlen(path) >= sizeof(tool_restore_path))
		return -ENAMETOOLONG;
	if (access(path, X_OK))
		return -errno;
	snprintf(tool_restore_path, sizeof(tool_restore_path), "%s", path);
	return 0;
}

static int find_tool(const char *name, char *path, size_t cap)
{
	size_t i;

	if (!strcmp(name, "iptables-restore") && tool_restore_path[0]) {
		snprintf(path, cap, "%s", tool_restore_path);
		return 0;
	}
	for (i = 0; i < sizeof(tool_dirs) / sizeof(tool_dirs[0]); i++)
		if (snprintf(path, cap, "%s/%s", tool_dirs[i], name) < (int)cap &&
		    access(path, X_OK) == 0)
			return 0;
	return -ENOENT;
}

/* A pipe whose ends are above stderr, so that the child's dup2()s never clobber one. */
static int pipe_high(int p[2])
{
	int i, fd;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	for (i = 0; i < 2; i++) {
		if (p[i] > 2)
			continue;
		fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			int e = errno;

			close(p[0]);
			close(p[1]);
			return -e;
		}
		close(p[i]);
		p[i] = fd;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Why the child did not get to exec: written on a close-on-exec pipe. */
struct child_failure {
	int stage;	/* 1 setns, 2 dup2, 3 exec */
	int err;
};

static void __attribute__((noreturn)) child_fail(int fd, int stage)
{
	struct child_failure f = { stage, errno };
	ssize_t n = write(fd, &f, sizeof(f));

	(void)n;
	_exit(127);
}

/* Appends to a growing buffer; -E2BIG past TOOL_MAX_OUTPUT. */
static int buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		char *nb;

		while (*len + n + 1 > ncap)
			ncap *= 2;
		if (ncap > TOOL_MAX_OUTPUT)
			return -E2BIG;
		nb = realloc(*buf, ncap);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* The tool's stderr as one line: its non-empty lines joined with "; ", hints dropped. */
static void stderr_line(const char *tool, const char *s, char *err, size_t cap)
{
	size_t len = 0;
	const char *nl;
	int n;

	err[0] = '\0';
	for (; *s; s = *nl ? nl + 1 : nl) {
		nl = strchrnul(s, '\n');
		if (nl == s || !strncmp(s, "Try `", 5))
			continue;
		n = snprintf(err + len, len < cap ? cap - len : 0, "%s%.*s", len ? "; " : "",
			     (int)(nl - s), s);
		len += (size_t)n;
		if (len >= cap)
			return;
	}
	/* iptables names itself in most errors; say who spoke when it did not */
	if (len && strncmp(err, tool, strlen(tool))) {
		char *copy = strdup(err);

		if (copy) {
			snprintf(err, cap, "%s: %s", tool, copy);
			free(copy);
		}
	}
}

/*
 * Runs `tool arg` inside the netns nsfd: a child setns()es and execs it with
 * input on its stdin (a pipe). *out (if not NULL) gets its stdout (malloc'd,
 * NUL-terminated). 0 when it exits 0; -EIO with its stderr in err when it
 * fails; -errno when it could not run.
 */
static int run_tool(int nsfd, const char *tool, const char *arg, const char *input, char **out,
		    char *err, size_t cap)
{
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, ep[2] = { -1, -1 }, sp[2] = { -1, -1 };
	char path[4096], chunk[4096], errbuf[4096], *obuf = NULL;
	char *const argv[] = { (char *)tool, (char *)arg, NULL };
	size_t olen = 0, ocap = 0, elen = 0, ilen = input ? strlen(input) : 0, ioff = 0;
	sigset_t pipeset, oldmask, pending;
	struct child_failure cf;
	struct timespec t0, now, zero = { 0, 0 };
	bool sigpipe_before, got_epipe = false;
	int ret, status, overflow = 0;
	pid_t pid;
	ssize_t n;

	if (out)
		*out = NULL;
	errbuf[0] = '\0';
	ret = find_tool(tool, path, sizeof(path));
	if (ret == -ENOENT)
		return fail(err, cap, ret, "%s: not found in /usr/sbin, /sbin, /usr/bin or /bin (install the iptables package)",
			    tool);
	if (ret)
		return fail(err, cap, ret, "%s: %s", tool, strerror(-ret));
	if ((ret = pipe_high(in)) || (ret = pipe_high(op)) || (ret = pipe_high(ep)) ||
	    (ret = pipe_high(sp))) {
		fail(err, cap, ret, "%s: pipe: %s", tool, strerror(-ret));
		goto out;
	}

	/* a tool that dies before reading its input must not kill the caller with SIGPIPE */
	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	sigpending(&pending);
	sigpipe_before = sigismember(&pending, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipeset, &oldmask);

	pid = fork();
	if (pid < 0) {
		ret = -errno;
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		fail(err, cap, ret, "%s: fork: %s", tool, strerror(-ret));
		goto out;
	}
	if (pid == 0) {
		/* only async-signal-safe calls from here on */
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		if (setns(nsfd, CLONE_NEWNET) < 0)
			child_fail(sp[1], 1);
		if (dup2(in[0], 0) < 0 || dup2(op[1], 1) < 0 || dup2(ep[1], 2) < 0)
			child_fail(sp[1], 2);
		execve(path, argv, tool_env);
		child_fail(sp[1], 3);
	}
	close_fd(&in[0]);
	close_fd(&op[1]);
	close_fd(&ep[1]);
	close_fd(&sp[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (!ilen)
		close_fd(&in[1]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = 0;
	while (op[0] >= 0 || ep[0] >= 0) {
		struct pollfd pf[3] = { { in[1], POLLOUT, 0 }, { op[0], POLLIN, 0 },
					{ ep[0], POLLIN, 0 } };
		long left;
		int pr;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = TOOL_TIMEOUT_MS - ((now.tv_sec - t0.tv_sec) * 1000 +
					  (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		pr = poll(pf, 3, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			ret = -errno;
			break;
		}
		if (in[1] >= 0 && pf[0].revents) {
			n = write(in[1], input + ioff, ilen - ioff);
			if (n > 0)
				ioff += (size_t)n;
			if (n < 0 && errno == EPIPE)
				got_epipe = true;
			/* done, or the tool stopped reading: its exit status will say why */
			if (ioff == ilen || (n < 0 && errno != EAGAIN && errno != EINTR))
				close_fd(&in[1]);
		}
		if (op[0] >= 0 && pf[1].revents) {
			n = read(op[0], chunk, sizeof(chunk));
			if (n > 0 && out && !overflow)
				overflow = buf_append(&obuf, &olen, &ocap, chunk, (size_t)n);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				close_fd(&op[0]);
		}
		if (ep[0] >= 0 && pf[2].revents) {
			n = read(ep[0], chunk, sizeof(chunk));
			if (n > 0 && elen < sizeof(errbuf) - 1) {
				size_t k = (size_t)n < sizeof(errbuf) - 1 - elen ? (size_t)n :
										      sizeof(errbuf) - 1 - elen;

				memcpy(errbuf + elen, chunk, k);
				elen += k;
				errbuf[elen] = '\0';
			}
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				close_fd(&ep[0]);
		}
	}
	close_fd(&in[1]);
	if (ret)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got_epipe && !sigpipe_before)
		sigtimedwait(&pipeset, NULL, &zero);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);

	if (ret == -ETIMEDOUT) {
		fail(err, cap, ret, "%s: timed out after %ds (killed)", tool, TOOL_TIMEOUT_MS / 1000);
		goto out;
	}
	if (ret) {
		fail(err, cap, ret, "%s: poll: %s", tool, strerror(-ret));
		goto out;
	}
	if (read(sp[0], &cf, sizeof(cf)) == (ssize_t)sizeof(cf)) {
		ret = -cf.err;
		fail(err, cap, ret, "%s: %s: %s", tool,
		     cf.stage == 1 ? "entering the network namespace" :
		     cf.stage == 2 ? "dup2" : "exec",
		     strerror(cf.err));
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		ret = -EIO;
		stderr_line(tool, errbuf, err, cap);
		if (!err[0] && WIFEXITED(status))
			fail(err, cap, ret, "%s exited with status %d", tool, WEXITSTATUS(status));
		else if (!err[0])
			fail(err, cap, ret, "%s killed by signal %d", tool, WTERMSIG(status));
		goto out;
	}
	if (overflow) {
		ret = overflow;
		fail(err, cap, ret, "%s: output: %s", tool, strerror(-ret));
		goto out;
	}
	if (out) {
		if (!obuf && buf_append(&obuf, &olen, &ocap, "", 0)) {
			ret = fail(err, cap, -ENOMEM, "%s: out of memory", tool);
			goto out;
		}
		*out = obuf;
		obuf = NULL;
	}
out:
	free(obuf);
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&op[0]);
	close_fd(&op[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	close_fd(&sp[0]);
	close_fd(&sp[1]);
	return ret;
}

/* ---- reading the chains back ---------------------------------------------------- */

static bool is_istio_chain(const char *s, size_t len)
{
	return len > 6 && !strncmp(s, "ISTIO_", 6);
}

/* " -j ISTIO_..." or " -g ISTIO_..." in the rule's len bytes: a jump into one of the chains */
static bool jumps_to_istio(const char *rule, size_t len)
{
	return memmem(rule, len, " -j ISTIO_", 10) || memmem(rule, len, " -g ISTIO_", 10);
}

/* The chain a "-A CHAIN ..." line appends to: its length, or 0. */
static size_t rule_chain(const char *rule, const char **chain)
{
	*chain = rule;
	if (strncmp(rule, "-A ", 3))
		return 0;
	*chain = rule + 3;
	return strcspn(*chain, " ");
}

static int entries_add(struct rd_rules *r, size_t *cap, const char *table, const char *chain,
		       size_t chainlen, uint64_t packets, uint64_t bytes, const char *rule,
		       size_t rulelen)
{
	struct rd_entry *e;

	if (r->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;

		e = realloc(r->e, ncap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		r->e = e;
		*cap = ncap;
	}
	e = &r->e[r->n];
	memset(e, 0, sizeof(*e));
	snprintf(e->table, sizeof(e->table), "%s", table);
	snprintf(e->chain, sizeof(e->chain), "%.*s", (int)chainlen, chain);
	e->packets = packets;
	e->bytes = bytes;
	if (rule) {
		e->rule = strndup(rule, rulelen);
		if (!e->rule)
			return -ENOMEM;
	}
	r->n++;
	return 0;
}

/* "[pkts:bytes]" at s: 0 with the counters and *end after it, or -EINVAL */
static int parse_counters(const char *s, uint64_t *packets, uint64_t *bytes, const char **end)
{
	char *e;

	if (*s != '[')
		return -EINVAL;
	errno = 0;
	*packets = strtoull(s + 1, &e, 10);
	if (errno || *e != ':')
		return -EINVAL;
	*bytes = strtoull(e + 1, &e, 10);
	if (errno || *e != ']')
		return -EINVAL;
	*end = e + 1;
	return 0;
}

/* The ISTIO-related lines of `iptables-save -c` output. */
static int parse_save(const char *text, struct rd_rules *r)
{
	char table[16] = "";
	const char *s, *nl, *p, *chain;
	uint64_t packets, bytes;
	size_t len, clen, cap = 0;
	int ret;

	for (s = text; *s; s = *nl ? nl + 1 : nl) {
		nl = strchrnul(s, '\n');
		len = (size_t)(nl - s);
		packets = bytes = 0;
		if (*s == '*') {
			snprintf(table, sizeof(table), "%.*s", (int)(len - 1), s + 1);
		} else if (*s == ':') {
			/* ":CHAIN POLICY [pkts:bytes]" */
			clen = strcspn(s + 1, " \n");
			if (!is_istio_chain(s + 1, clen))
				continue;
			p = memchr(s, '[', len);
			if (p && parse_counters(p, &packets, &bytes, &p))
				packets = bytes = 0;
			ret = entries_add(r, &cap, table, s + 1, clen, packets, bytes, NULL, 0);
			if (ret)
				return ret;
		} else if (*s == '[' || *s == '-') {
			p = s;
			if (*s == '[') {
				if (parse_counters(s, &packets, &bytes, &p) || *p != ' ')
					continue;
				p++;
			}
			len = (size_t)(nl - p);
			clen = rule_chain(p, &chain);
			if (!clen || (!is_istio_chain(chain, clen) && !jumps_to_istio(p, len)))
				continue;
			ret = entries_add(r, &cap, table, chain, clen, packets, bytes, p, len);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int rd_read(int nsfd, struct rd_rules *r, char *err, size_t cap)
{
	char *out = NULL;
	int ret;

	r->e = NULL;
	r->n = 0;
	ret = run_tool(nsfd, "iptables-save", "-c", NULL, &out, err, cap);
	if (ret)
		return ret;
	ret = parse_save(out, r);
	free(out);
	if (ret) {
		rd_rules_free(r);
		return fail(err, cap, ret, "reading iptables-save output: %s", strerror(-ret));
	}
	return 0;
}

void rd_rules_free(struct rd_rules *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->e[i].rule);
	free(r->e);
	r->e = NULL;
	r->n = 0;
}

size_t rd_chain_count(const struct rd_rules *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += !r->e[i].rule;
	return n;
}

/* How many entries of r are in table and chain: chain declarations (decl) or rules. */
static size_t count_in(const struct rd_rules *r, const char *table, const char *chain, bool decl)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += !strcmp(r->e[i].table, table) && !strcmp(r->e[i].chain, chain) &&
		     !r->e[i].rule == decl;
	return n;
}

/* How many rules a variant appends to table and chain. */
static size_t expected_in(enum rd_variant v, bool dns, const char *table, const char *chain,
			  size_t chainlen)
{
	const struct rd_line *l;
	const char *c;
	size_t n = 0;

	for (l = variant_lines(v); l->table; l++)
		if ((!l->dns || dns) && !strcmp(l->table, table) &&
		    rule_chain(l->text, &c) == chainlen && !strncmp(c, chain, chainlen))
			n++;
	return n;
}

/* Does the variant declare chain in table? */
static bool expected_decl(enum rd_variant v, bool dns, const char *table, const char *chain)
{
	const struct rd_line *l;

	for (l = variant_lines(v); l->table; l++)
		if ((!l->dns || dns) && !strcmp(l->table, table) && !strncmp(l->text, "-N ", 3) &&
		    !strcmp(l->text + 3, chain))
			return true;
	return false;
}

/* Does r hold exactly a variant's chains, with as many rules in each chain? */
static bool matches(const struct rd_rules *r, enum rd_variant v, bool dns)
{
	const struct rd_line *l;
	const char *chain;
	size_t lines = 0, clen;
	char name[32];

	for (l = variant_lines(v); l->table; l++) {
		if (l->dns && !dns)
			continue;
		lines++;
		if (!strncmp(l->text, "-N ", 3)) {
			if (count_in(r, l->table, l->text + 3, true) != 1)
				return false;
			continue;
		}
		clen = rule_chain(l->text, &chain);
		snprintf(name, sizeof(name), "%.*s", (int)clen, chain);
		if (count_in(r, l->table, name, false) != expected_in(v, dns, l->table, chain, clen))
			return false;
	}
	/* nothing besides: no other ISTIO_* chain, no rule in a table the variant leaves alone */
	return lines == r->n;
}

int rd_identify(const struct rd_rules *r, enum rd_variant *v, bool *dns_capture)
{
	static const enum rd_variant all[] = { RD_TPROXY, RD_REDIRECT };
	size_t i;
	int dns;

	if (!rd_chain_count(r))
		return -ENOENT;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		for (dns = 1; dns >= 0; dns--) {
			if (matches(r, all[i], dns)) {
				*v = all[i];
				*dns_capture = dns;
				return 0;
			}
		}
	}
	return -ENOMSG;
}

/*
 * Istio's own objects, as istio-cni's DeleteInpodRules names them: the chains
 * ISTIO_PRERT and ISTIO_OUTPUT of mangle, nat and raw. Any other ISTIO_* chain
 * (filter ISTIO_AUDIT, nat ISTIO_CUSTOM) belongs to someone else.
 */
static bool own_table(const char *table)
{
	return !strcmp(table, "mangle") || !strcmp(table, "nat") || !strcmp(table, "raw");
}

static bool own_chain(const char *table, const char *chain)
{
	return own_table(table) && (!strcmp(chain, "ISTIO_PRERT") || !strcmp(chain, "ISTIO_OUTPUT"));
}

/* The chain a rule jumps or goes to ("-j NAME" / "-g NAME" as a whole word), or false. */
static bool rule_target(const char *rule, char *target, size_t cap)
{
	const char *p = strstr(rule, " -j ");

	if (!p)
		p = strstr(rule, " -g ");
	if (!p)
		return false;
	p += 4;
	snprintf(target, cap, "%.*s", (int)strcspn(p, " "), p);
	return true;
}

/* "-A CHAIN -j ISTIO_X": the exact jump istio-cni adds and deletes, nothing else in it. */
static bool exact_jump(const char *rule, const char *target)
{
	const char *chain, *rest;
	size_t clen = rule_chain(rule, &chain);

	if (!clen)
		return false;
	rest = chain + clen;
	return !strncmp(rest, " -j ", 4) && !strcmp(rest + 4, target);
}

/*
 * Removes Istio's own objects in r, one block per table: -D each exact jump
 * into ISTIO_PRERT/ISTIO_OUTPUT (every copy), then -F and -X those chains.
 * Foreign chains and the rules that jump to them stay. A table where another
 * rule still refers to one of Istio's chains is left as it is (-X would fail
 * and roll the table back) and named in err; the other tables are done.
 */
static int remove_chains(int nsfd, const struct rd_rules *r, char *err, size_t cap)
{
	static const char *const tables[] = { "mangle", "nat", "raw" };
	char *text = NULL, target[32];
	size_t len = 0, t, k, n;
	int ret = 0, conflict = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	if (!f)
		return fail(err, cap, -ENOMEM, "out of memory");
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		const struct rd_entry *blocker = NULL;

		for (k = 0, n = 0; k < r->n; k++) {
			const struct rd_entry *e = &r->e[k];

			if (strcmp(e->table, tables[t]))
				continue;
			n += !e->rule && own_chain(e->table, e->chain);
			if (e->rule && !own_chain(e->table, e->chain) &&
			    rule_target(e->rule, target, sizeof(target)) &&
			    own_chain(e->table, target) && !exact_jump(e->rule, target) && !blocker)
				blocker = e;
		}
		if (!n)
			continue;
		if (blocker) {
			if (!conflict)
				conflict = fail(err, cap, -EBUSY,
						"%s: '%s' also refers to an Istio chain and is not "
						"istio-cni's; left the %s table as it is",
						blocker->table, blocker->rule, blocker->table);
			continue;
		}
		fprintf(f, "*%s\n", tables[t]);
		for (k = 0; k < r->n; k++) {
			const struct rd_entry *e = &r->e[k];

			if (!strcmp(e->table, tables[t]) && e->rule && !own_chain(e->table, e->chain) &&
			    rule_target(e->rule, target, sizeof(target)) && own_chain(e->table, target))
				fprintf(f, "-D%s\n", e->rule + 2);
		}
		for (k = 0; k < r->n; k++)
			if (!strcmp(r->e[k].table, tables[t]) && !r->e[k].rule &&
			    own_chain(r->e[k].table, r->e[k].chain))
				fprintf(f, "-F %s\n", r->e[k].chain);
		for (k = 0; k < r->n; k++)
			if (!strcmp(r->e[k].table, tables[t]) && !r->e[k].rule &&
			    own_chain(r->e[k].table, r->e[k].chain))
				fprintf(f, "-X %s\n", r->e[k].chain);
		fprintf(f, "COMMIT\n");
	}
	if (fclose(f) || !text) {
		free(text);
		return fail(err, cap, -ENOMEM, "out of memory");
	}
	if (len)
		ret = run_tool(nsfd, "iptables-restore", "--noflush", text, NULL, err, cap);
	free(text);
	return ret ? ret : conflict;
}

/* How many of Istio's own chains r declares. */
static size_t own_chain_count(const struct rd_rules *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += !r->e[i].rule && own_chain(r->e[i].table, r->e[i].chain);
	return n;
}

/* Reads and removes Istio's own chains; *had says whether there were any. */
static int remove_all_chains(int nsfd, bool *had, char *err, size_t cap)
{
	struct rd_rules r;
	int ret = rd_read(nsfd, &r, err, cap);

	if (had)
		*had = false;
	if (ret)
		return ret;
	if (had)
		*had = own_chain_count(&r) > 0;
	ret = remove_chains(nsfd, &r, err, cap);
	rd_rules_free(&r);
	return ret;
}

/*
 * What rd_apply finds before installing: 0 nothing of Istio's, 1 a complete
 * known variant (left as is), or -EEXIST with err naming a foreign ISTIO_*
 * chain or what a half-present set lacks compared with variant v.
 */
static int check_present(const struct rd_rules *r, enum rd_variant v, bool dns, char *err,
			 size_t cap)
{
	const struct rd_line *l, *m;
	enum rd_variant found;
	bool found_dns, dup;
	char name[32], what[1024];
	const char *chain;
	size_t i, len = 0, clen, have, want;

	for (i = 0; i < r->n; i++)
		if (!r->e[i].rule && !own_chain(r->e[i].table, r->e[i].chain))
			return fail(err, cap, -EEXIST,
				    "%s %s is not one of istio-cni's chains (ISTIO_PRERT and "
				    "ISTIO_OUTPUT of mangle, nat and raw); nothing installed: rename "
				    "or remove it first", r->e[i].table, r->e[i].chain);
	if (!own_chain_count(r))
		return 0;
	if (!rd_identify(r, &found, &found_dns))
		return 1;
	what[0] = '\0';
	/* per chain the variant touches: missing, or how many of its rules are there */
	for (l = variant_lines(v); l->table; l++) {
		if (l->dns && !dns)
			continue;
		if (!strncmp(l->text, "-N ", 3)) {
			if (!count_in(r, l->table, l->text + 3, true))
				len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
							"%s%s %s missing", len ? ", " : "", l->table,
							l->text + 3);
			continue;
		}
		clen = rule_chain(l->text, &chain);
		for (m = variant_lines(v), dup = false; m < l && !dup; m++) {
			const char *c2;

			dup = (!m->dns || dns) && !strcmp(m->table, l->table) &&
			      rule_chain(m->text, &c2) == clen && !strncmp(c2, chain, clen);
		}
		if (dup)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)clen, chain);
		have = count_in(r, l->table, name, false);
		want = expected_in(v, dns, l->table, chain, clen);
		if (have != want)
			len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
						"%s%s %s has %zu of %zu %s", len ? ", " : "",
						l->table, name, have, want,
						strncmp(name, "ISTIO_", 6) ? "jumps" : "rules");
	}
	/* and Istio chains this variant does not have (raw without DNS capture, nat ISTIO_PRERT for tproxy) */
	for (i = 0; i < r->n; i++)
		if (!r->e[i].rule && !expected_decl(v, dns, r->e[i].table, r->e[i].chain))
			len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
						"%s%s %s is not part of it", len ? ", " : "",
						r->e[i].table, r->e[i].chain);
	if (!what[0])
		snprintf(what, sizeof(what), "rules differ from it");
	return fail(err, cap, -EEXIST,
		    "ISTIO_* chains already present but not a complete %s variant%s (%s); nothing "
		    "installed: remove them first (del --netns)",
		    rd_variant_name(v), dns ? "" : " without DNS capture", what);
}

/* ---- policy routing through rtnetlink -------------------------------------------- */

int rd_in_netns(int nsfd, int (*fn)(void *), void *arg)
{
	int own = netns_open_current(), ret, back;

	if (own < 0)
		return own;
	ret = netns_enter(nsfd);
	if (ret) {
		close(own);
		return ret;
	}
	ret = fn(arg);
	back = netns_enter(own);
	close(own);
	return back ? -ENOTRECOVERABLE : ret;
}

static int open_route_sock(void *arg)
{
	struct mnl_socket **nl = arg;

	*nl = nl_route_open();
	return *nl ? 0 : -errno;
}

/* An rtnetlink socket that acts in the netns nsfd. */
static int nl_open_in(int nsfd, struct mnl_socket **nl, char *err, size_t cap)
{
	int ret = rd_in_netns(nsfd, open_route_sock, nl);

	if (ret == -ENOTRECOVERABLE) {
		nl_close(*nl);
		*nl = NULL;
		return fail(err, cap, ret, "could not return to the original network namespace");
	}
	if (ret)
		return fail(err, cap, ret, "rtnetlink socket in the network namespace: %s",
			    strerror(-ret));
	return 0;
}

static unsigned int next_seq(void)
{
	static unsigned int seq;

	if (!seq)
		seq = (unsigned int)time(NULL);
	return ++seq;
}

/*
 * Sends one request and reads until the kernel's ack or the end of a dump:
 * 0, or -errno (the kernel's, for a refused change).
 */
static int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[NL_BUF];
	unsigned int portid = mnl_socket_get_portid(nl), seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
	} while (ret > MNL_CB_STOP);
	return ret < 0 ? -errno : 0;
}

static struct nlmsghdr *nl_msg(char *buf, uint16_t type, uint16_t flags)
{
	return nl_request(buf, 512, type, flags, next_seq());
}

struct link_q {
	uint32_t index;
	unsigned int flags;	/* IFF_UP, ... */
	char name[IFNAMSIZ];
};

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct link_q *q = data;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	q->index = (uint32_t)ifi->ifi_index;
	q->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		snprintf(q->name, sizeof(q->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	return MNL_CB_OK;
}

/* RTM_GETLINK by name (q->name) or by index (q->index): fills in the other. */
static int nl_link(struct mnl_socket *nl, struct link_q *q)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	if (q->index)
		ifi->ifi_index = (int)q->index;
	else
		mnl_attr_put_strz(nlh, IFLA_IFNAME, q->name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return nl_talk(nl, nlh, link_cb, q);
}

/* `ip rule add|del fwmark 0x111/0xfff pref 32764 lookup 100` */
static int nl_rule(struct mnl_socket *nl, bool add)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_msg(buf, add ? RTM_NEWRULE : RTM_DELRULE,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = AF_INET;
	frh->action = FR_ACT_TO_TBL;
	frh->table = RD_ROUTE_TABLE;
	mnl_attr_put_u32(nlh, FRA_FWMARK, RD_CONNMARK);
	mnl_attr_put_u32(nlh, FRA_FWMASK, RD_MASK);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, RD_RULE_PRIORITY);
	mnl_attr_put_u32(nlh, FRA_TABLE, RD_ROUTE_TABLE);
	return nl_talk(nl, nlh, NULL, NULL);
}

/* `ip route add|del local 0.0.0.0/0 dev lo table 100` */
static int nl_route(struct mnl_socket *nl, bool add, uint32_t lo)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_msg(buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RD_ROUTE_TABLE;
	rtm->rtm_type = RTN_LOCAL;
	/* as ip(8): boot protocol and host scope to add, any scope to delete */
	rtm->rtm_protocol = add ? RTPROT_BOOT : RTPROT_UNSPEC;
	rtm->rtm_scope = add ? RT_SCOPE_HOST : RT_SCOPE_NOWHERE;
	mnl_attr_put_u32(nlh, RTA_TABLE, RD_ROUTE_TABLE);
	mnl_attr_put_u32(nlh, RTA_OIF, lo);
	return nl_talk(nl, nlh, NULL, NULL);
}

static const char *const rule_cmds[] = {
	"ip rule del fwmark 0x111/0xfff pref 32764 lookup 100",
	"ip rule add fwmark 0x111/0xfff pref 32764 lookup 100",
};
static const char *const route_cmds[] = {
	"ip route del local 0.0.0.0/0 dev lo table 100",
	"ip route add local 0.0.0.0/0 dev lo table 100",
};

/*
 * Adds (add) or deletes the ip rule and the route that *what names; *done
 * says which this call changed. Already there (adding) or already gone
 * (deleting) is fine. A delete goes on after a failed step; an add stops.
 * The first error wins.
 */
static int policy_change(int nsfd, bool add, const struct rd_state *what, struct rd_state *done,
			 char *err, size_t cap)
{
	struct mnl_socket *nl = NULL;
	struct link_q lo = { .index = 0, .name = "lo" };
	int ret, first = 0;

	done->ip_rule = done->route = false;
	if (!what->ip_rule && !what->route)
		return 0;
	ret = nl_open_in(nsfd, &nl, err, cap);
	if (ret)
		return ret;
	if (what->ip_rule) {
		ret = nl_rule(nl, add);
		if (!ret)
			done->ip_rule = true;
		else if (ret != (add ? -EEXIST : -ENOENT))
			first = fail(err, cap, ret, "%s: %s", rule_cmds[add], strerror(-ret));
	}
	if (what->route && !(add && first)) {
		ret = nl_link(nl, &lo);
		if (ret) {
			if (!first)
				first = fail(err, cap, ret, "%s: looking up lo: %s", route_cmds[add],
					     strerror(-ret));
		} else {
			ret = nl_route(nl, add, lo.index);
			if (!ret)
				done->route = true;
			/* a missing route: ESRCH from the fib, ENOENT when table 100 is gone too */
			else if (add ? ret != -EEXIST : ret != -ESRCH && ret != -ENOENT)
				first = first ? first :
						fail(err, cap, ret, "%s: %s", route_cmds[add],
						     strerror(-ret));
		}
	}
	nl_close(nl);
	return first;
}

int rd_link_up(int nsfd, const char *name)
{
	struct mnl_socket *nl = NULL;
	struct link_q q = { .index = 0 };
	char err[256];
	int ret;

	snprintf(q.name, sizeof(q.name), "%s", name);
	ret = nl_open_in(nsfd, &nl, err, sizeof(err));
	if (ret)
		return ret;
	ret = nl_link(nl, &q);
	nl_close(nl);
	if (ret)
		return ret;
	return !!(q.flags & IFF_UP);
}

/* ---- apply and remove -------------------------------------------------------------- */

int rd_apply(int nsfd, enum rd_variant v, bool dns_capture, struct rd_state *added, char *err,
	     size_t cap)
{
	const struct rd_state policy = { .ip_rule = true, .route = true };
	struct rd_state done;
	struct rd_rules r;
	char text[4096], scratch[256];
	int ret, len;

	memset(added, 0, sizeof(*added));
	/* istio-cni's order: rules first (iptables-save says whether they are there), then routing */
	ret = rd_read(nsfd, &r, err, cap);
	if (ret)
		return ret;
	ret = check_present(&r, v, dns_capture, err, cap);
	rd_rules_free(&r);
	if (ret < 0)
		return ret;
	len = ret ? 0 : rd_rules_text(v, dns_capture, text, sizeof(text));
	if (len < 0)
		return fail(err, cap, len, "the rules do not fit in %zu bytes", sizeof(text));
	if (len > 0) {
		ret = run_tool(nsfd, "iptables-restore", "--noflush", text, NULL, err, cap);
		if (ret) {
			/* a restore that failed halfway (one table committed) leaves no chain behind */
			remove_all_chains(nsfd, NULL, scratch, sizeof(scratch));
			return ret;
		}
		added->chains = true;
	}
	ret = policy_change(nsfd, true, &policy, &done, err, cap);
	added->ip_rule = done.ip_rule;
	added->route = done.route;
	if (ret) {
		rd_undo(nsfd, added, scratch, sizeof(scratch));
		memset(added, 0, sizeof(*added));
	}
	return ret;
}

int rd_undo(int nsfd, const struct rd_state *what, char *err, size_t cap)
{
	struct rd_state done;
	int ret = policy_change(nsfd, false, what, &done, err, cap), ret2 = 0;
	char err2[512];

	if (what->chains)
		ret2 = remove_all_chains(nsfd, NULL, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	return ret;
}

int rd_remove(int nsfd, struct rd_state *removed, char *err, size_t cap)
{
	const struct rd_state policy = { .ip_rule = true, .route = true };
	char err2[512];
	int ret, ret2;

	memset(removed, 0, sizeof(*removed));
	ret = remove_all_chains(nsfd, &removed->chains, err, cap);
	ret2 = policy_change(nsfd, false, &policy, removed, err2, sizeof(err2));
	if (ret2 && !ret) {
		snprintf(err, cap, "%s", err2);
		ret = ret2;
	}
	return ret;
}

/* ---- policy routing, read back ---------------------------------------------------- */

struct dump_ctx {
	struct rd_policy *p;
	size_t cap;
	int err;
};

static int u32_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	/* validated where used: attr_u32(), or RTA_DST's length */
	if (type > TB_MAX)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static bool attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a || mnl_attr_validate((struct nlattr *)a, MNL_TYPE_U32) < 0)
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[TB_MAX + 1] = { NULL };
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	struct dump_ctx *c = data;
	struct rd_ip_rule r = { 0 };
	void *grown;

	if (nlh->nlmsg_type != RTM_NEWRULE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*frh))
		return MNL_CB_OK;
	if (frh->family != AF_INET || frh->action != FR_ACT_TO_TBL)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*frh), u32_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	r.table = frh->table;
	attr_u32(tb[FRA_TABLE], &r.table);
	attr_u32(tb[FRA_PRIORITY], &r.priority);
	r.has_fwmark = attr_u32(tb[FRA_FWMARK], &r.fwmark);
	r.fwmask = 0xffffffff;
	attr_u32(tb[FRA_FWMASK], &r.fwmask);
	if (!r.has_fwmark && r.table != RD_ROUTE_TABLE)
		return MNL_CB_OK;
	if (c->p->nrules == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		grown = realloc(c->p->rules, c->cap * sizeof(r));
		if (!grown) {
			c->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		c->p->rules = grown;
	}
	c->p->rules[c->p->nrules++] = r;
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[TB_MAX + 1] = { NULL };
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct dump_ctx *c = data;
	struct rd_route r = { 0 };
	void *grown;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return MNL_CB_OK;
	if (rtm->rtm_family != AF_INET)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*rtm), u32_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	r.table = rtm->rtm_table;
	attr_u32(tb[RTA_TABLE], &r.table);
	if (r.table != RD_ROUTE_TABLE)
		return MNL_CB_OK;
	attr_u32(tb[RTA_OIF], &r.oif);
	r.type = rtm->rtm_type;
	r.scope = rtm->rtm_scope;
	r.protocol = rtm->rtm_protocol;
	r.dst_len = rtm->rtm_dst_len;
	if (tb[RTA_DST] && mnl_attr_get_payload_len(tb[RTA_DST]) == 4)
		memcpy(r.dst, mnl_attr_get_payload(tb[RTA_DST]), 4);
	if (c->p->nroutes == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		grown = realloc(c->p->routes, c->cap * sizeof(r));
		if (!grown) {
			c->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		c->p->routes = grown;
	}
	c->p->routes[c->p->nroutes++] = r;
	return MNL_CB_OK;
}

static int nl_dump(struct mnl_socket *nl, uint16_t type, mnl_cb_t cb, struct dump_ctx *c)
{
	char buf[512];
	struct nlmsghdr *nlh = nl_msg(buf, type, NLM_F_DUMP);
	int ret;

	if (type == RTM_GETRULE) {
		struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

		frh->family = AF_INET;
	} else {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

		rtm->rtm_family = AF_INET;
	}
	c->cap = 0;
	c->err = 0;
	ret = nl_talk(nl, nlh, cb, c);
	return c->err ? c->err : ret;
}

int rd_policy_read(int nsfd, struct rd_policy *p, char *err, size_t cap)
{
	struct mnl_socket *nl = NULL;
	struct dump_ctx c = { .p = p };
	size_t i;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = nl_open_in(nsfd, &nl, err, cap);
	if (ret)
		return ret;
	ret = nl_dump(nl, RTM_GETRULE, rule_cb, &c);
	if (ret) {
		fail(err, cap, ret, "dumping the ip rules: %s", strerror(-ret));
		goto out;
	}
	ret = nl_dump(nl, RTM_GETROUTE, route_cb, &c);
	if (ret) {
		fail(err, cap, ret, "dumping the routes of table %d: %s", RD_ROUTE_TABLE,
		     strerror(-ret));
		goto out;
	}
	for (i = 0; i < p->nroutes; i++) {
		struct link_q q = { .index = p->routes[i].oif };

		/* a name that cannot be read stays "" and the index is shown instead */
		if (q.index && !nl_link(nl, &q))
			snprintf(p->routes[i].dev, sizeof(p->routes[i].dev), "%s", q.name);
	}
out:
	nl_close(nl);
	if (ret)
		rd_policy_free(p);
	return ret;
}

void rd_policy_free(struct rd_policy *p)
{
	free(p->rules);
	free(p->routes);
	memset(p, 0, sizeof(*p));
}

static void table_name(uint32_t t, char *buf, size_t cap)
{
	if (t == RT_TABLE_LOCAL)
		snprintf(buf, cap, "local");
	else if (t == RT_TABLE_MAIN)
		snprintf(buf, cap, "main");
	else if (t == RT_TABLE_DEFAULT)
		snprintf(buf, cap, "default");
	else
		snprintf(buf, cap, "%" PRIu32, t);
}

void rd_format_ip_rule(const struct rd_ip_rule *r, char *buf, size_t cap)
{
	char mark[32] = "", table[16];

	if (r->has_fwmark && r->fwmask != 0xffffffff)
		snprintf(mark, sizeof(mark), " fwmark %#" PRIx32 "/%#" PRIx32, r->fwmark, r->fwmask);
	else if (r->has_fwmark)
		snprintf(mark, sizeof(mark), " fwmark %#" PRIx32, r->fwmark);
	table_name(r->table, table, sizeof(table));
	snprintf(buf, cap, "%" PRIu32 ": from all%s lookup %s", r->priority, mark, table);
}

void rd_format_route(const struct rd_route *r, char *buf, size_t cap)
{
	static const char *const types[] = {
		[RTN_LOCAL] = "local ", [RTN_BROADCAST] = "broadcast ", [RTN_ANYCAST] = "anycast ",
		[RTN_MULTICAST] = "multicast ", [RTN_BLACKHOLE] = "blackhole ",
		[RTN_UNREACHABLE] = "unreachable ", [RTN_PROHIBIT] = "prohibit ",
	};
	char dst[INET_ADDRSTRLEN + 4], dev[32] = "", scope[24] = "", proto[24] = "";
	const char *type = r->type < sizeof(types) / sizeof(types[0]) && types[r->type] ?
				   types[r->type] : "";

	if (!r->dst_len) {
		snprintf(dst, sizeof(dst), "default");
	} else {
		inet_ntop(AF_INET, r->dst, dst, sizeof(dst));
		if (r->dst_len != 32)
			snprintf(dst + strlen(dst), sizeof(dst) - strlen(dst), "/%u", r->dst_len);
	}
	if (r->dev[0])
		snprintf(dev, sizeof(dev), " dev %s", r->dev);
	else if (r->oif)
		snprintf(dev, sizeof(dev), " dev if%" PRIu32, r->oif);
	/* as ip(8), which leaves out the boot protocol and the universe scope */
	if (r->protocol == RTPROT_KERNEL)
		snprintf(proto, sizeof(proto), " proto kernel");
	else if (r->protocol == RTPROT_STATIC)
		snprintf(proto, sizeof(proto), " proto static");
	else if (r->protocol != RTPROT_BOOT)
		snprintf(proto, sizeof(proto), " proto %u", r->protocol);
	if (r->scope == RT_SCOPE_HOST)
		snprintf(scope, sizeof(scope), " scope host");
	else if (r->scope == RT_SCOPE_LINK)
		snprintf(scope, sizeof(scope), " scope link");
	else if (r->scope != RT_SCOPE_UNIVERSE)
		snprintf(scope, sizeof(scope), " scope %u", r->scope);
	snprintf(buf, cap, "%s%s%s%s%s", type, dst, dev, proto, scope);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: running iptables-restore / iptables-save / nft inside a pod's netns: the
 * tool from fixed directories (or the absolute path given), a fixed minimal
 * environment (fault 10), stdin/stdout/stderr pumped with a deadline.
 * Never touches: what the rules mean (iptables.c), netlink. Interface: tool.h.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rd_internal.h"

/* iptables can wait on the xtables lock; a bound wait keeps a caller from hanging on it */
#define TOOL_TIMEOUT_MS 30000
#define TOOL_MAX_OUTPUT (64u << 20)

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
	/* the forked child: _exit, so that nothing of the parent's (stdio, atexit) runs twice */
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

/* One run of a tool: its pipes (stdin, stdout, stderr, exec failure) and what came back. */
struct run {
	int in[2], op[2], ep[2], sp[2];
	const char *input;
	size_t ilen, ioff;
	bool want_out, got_epipe;
	char *obuf;
	size_t olen, ocap;
	int overflow;
	char errbuf[4096];
	size_t elen;
};

/* The child: into the netns, the pipes onto 0-2, exec. Only async-signal-safe calls. */
static void __attribute__((noreturn)) child_exec(const struct run *r, int nsfd, const char *path,
						 char *const argv[], const sigset_t *oldmask)
{
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	if (setns(nsfd, CLONE_NEWNET) < 0)
		child_fail(r->sp[1], 1);
	if (dup2(r->in[0], 0) < 0 || dup2(r->op[1], 1) < 0 || dup2(r->ep[1], 2) < 0)
		child_fail(r->sp[1], 2);
	execve(path, argv, tool_env);
	child_fail(r->sp[1], 3);
}

/* What one poll() found ready: input written, stdout and stderr read. */
static void pump_ready(struct run *r, const struct pollfd pf[3])
{
	char chunk[4096];
	ssize_t n;

	if (r->in[1] >= 0 && pf[0].revents) {
		n = write(r->in[1], r->input + r->ioff, r->ilen - r->ioff);
		if (n > 0)
			r->ioff += (size_t)n;
		if (n < 0 && errno == EPIPE)
			r->got_epipe = true;
		/* done, or the tool stopped reading: its exit status will say why */
		if (r->ioff == r->ilen || (n < 0 && errno != EAGAIN && errno != EINTR))
			close_fd(&r->in[1]);
	}
	if (r->op[0] >= 0 && pf[1].revents) {
		n = read(r->op[0], chunk, sizeof(chunk));
		if (n > 0 && r->want_out && !r->overflow)
			r->overflow = buf_append(&r->obuf, &r->olen, &r->ocap, chunk, (size_t)n);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			close_fd(&r->op[0]);
	}
	if (r->ep[0] >= 0 && pf[2].revents) {
		n = read(r->ep[0], chunk, sizeof(chunk));
		if (n > 0 && r->elen < sizeof(r->errbuf) - 1) {
			size_t k = (size_t)n < sizeof(r->errbuf) - 1 - r->elen ?
					   (size_t)n : sizeof(r->errbuf) - 1 - r->elen;

			memcpy(r->errbuf + r->elen, chunk, k);
			r->elen += k;
			r->errbuf[r->elen] = '\0';
		}
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			close_fd(&r->ep[0]);
	}
}

/* Until the child closes stdout and stderr, within TOOL_TIMEOUT_MS: 0, -ETIMEDOUT, or -errno. */
static int pump(struct run *r)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (r->op[0] >= 0 || r->ep[0] >= 0) {
		struct pollfd pf[3] = { { r->in[1], POLLOUT, 0 }, { r->op[0], POLLIN, 0 },
					{ r->ep[0], POLLIN, 0 } };
		long left;
		int pr;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = TOOL_TIMEOUT_MS - ((now.tv_sec - t0.tv_sec) * 1000 +
					  (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		pr = poll(pf, 3, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		pump_ready(r, pf);
	}
	return 0;
}

/* What a finished run (pump()'s ret, the child's status) comes to: 0, or -errno with err. */
static int run_result(struct run *r, const char *tool, int ret, int status, char **out, char *err,
		      size_t cap)
{
	struct child_failure cf;

	if (ret == -ETIMEDOUT)
		return ze_reason(err, cap, ret, "%s: timed out after %ds (killed)", tool,
			       TOOL_TIMEOUT_MS / 1000);
	if (ret)
		return ze_reason(err, cap, ret, "%s: poll: %s", tool, strerror(-ret));
	if (read(r->sp[0], &cf, sizeof(cf)) == (ssize_t)sizeof(cf))
		return ze_reason(err, cap, -cf.err, "%s: %s: %s", tool,
			       cf.stage == 1 ? "entering the network namespace" :
			       cf.stage == 2 ? "dup2" : "exec",
			       strerror(cf.err));
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		ret = -EIO;
		stderr_line(tool, r->errbuf, err, cap);
		if (!err[0] && WIFEXITED(status))
			ze_reason(err, cap, ret, "%s exited with status %d", tool, WEXITSTATUS(status));
		else if (!err[0])
			ze_reason(err, cap, ret, "%s killed by signal %d", tool, WTERMSIG(status));
		return ret;
	}
	if (r->overflow)
		return ze_reason(err, cap, r->overflow, "%s: output: %s", tool, strerror(-r->overflow));
	if (out) {
		if (!r->obuf && buf_append(&r->obuf, &r->olen, &r->ocap, "", 0))
			return ze_reason(err, cap, -ENOMEM, "%s: out of memory", tool);
		*out = r->obuf;
		r->obuf = NULL;
	}
	return 0;
}

static void run_close(struct run *r)
{
	int i;

	free(r->obuf);
	r->obuf = NULL;
	for (i = 0; i < 2; i++) {
		close_fd(&r->in[i]);
		close_fd(&r->op[i]);
		close_fd(&r->ep[i]);
		close_fd(&r->sp[i]);
	}
}

int rd_run_tool(int nsfd, const char *tool, const char *arg, const char *input, char **out,
		char *err, size_t cap)
{
	const char *const args[] = { arg, NULL };

	return rd_run_toolv(nsfd, tool, args, input, out, err, cap);
}

/* The package a tool comes in, for the hint when it is missing. */
static const char *tool_package(const char *tool)
{
	return !strcmp(tool, "nft") ? "nftables" : "iptables";
}

int rd_run_toolv(int nsfd, const char *tool, const char *const args[], const char *input,
		 char **out, char *err, size_t cap)
{
	struct run r = { .in = { -1, -1 }, .op = { -1, -1 }, .ep = { -1, -1 }, .sp = { -1, -1 },
			 .input = input, .ilen = input ? strlen(input) : 0, .want_out = out != NULL };
	char path[4096];
	char *argv[8] = { (char *)tool };
	size_t i;
	sigset_t pipeset, oldmask, pending;
	struct timespec zero = { 0, 0 };
	bool sigpipe_before;
	int ret, status;
	pid_t pid;

	if (out)
		*out = NULL;
	for (i = 0; args[i]; i++) {
		if (i + 2 >= sizeof(argv) / sizeof(argv[0]))
			return ze_reason(err, cap, -E2BIG, "%s: too many arguments", tool);
		argv[i + 1] = (char *)args[i];
	}
	ret = find_tool(tool, path, sizeof(path));
	if (ret == -ENOENT)
		return ze_reason(err, cap, ret, "%s: not found in /usr/sbin, /sbin, /usr/bin or /bin (install the %s package)",
			       tool, tool_package(tool));
	if (ret)
		return ze_reason(err, cap, ret, "%s: %s", tool, strerror(-ret));
	if ((ret = pipe_high(r.in)) || (ret = pipe_high(r.op)) || (ret = pipe_high(r.ep)) ||
	    (ret = pipe_high(r.sp))) {
		ze_reason(err, cap, ret, "%s: pipe: %s", tool, strerror(-ret));
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
		ze_reason(err, cap, ret, "%s: fork: %s", tool, strerror(-ret));
		goto out;
	}
	if (pid == 0)
		child_exec(&r, nsfd, path, argv, &oldmask);
	close_fd(&r.in[0]);
	close_fd(&r.op[1]);
	close_fd(&r.ep[1]);
	close_fd(&r.sp[1]);
	fcntl(r.in[1], F_SETFL, O_NONBLOCK);
	if (!r.ilen)
		close_fd(&r.in[1]);

	ret = pump(&r);
	close_fd(&r.in[1]);
	if (ret)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r.got_epipe && !sigpipe_before)
		sigtimedwait(&pipeset, NULL, &zero);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	ret = run_result(&r, tool, ret, status, out, err, cap);
out:
	run_close(&r);
	return ret;
}

int rd_tool_read(int nsfd, const char *tool, const char *const args[],
		 int (*parse)(const char *, struct rd_rules *), const char *what, const char *einval,
		 struct rd_rules *r, char *err, size_t cap)
{
	char *out = NULL;
	int ret;

	r->e = NULL;
	r->n = 0;
	ret = rd_run_toolv(nsfd, tool, args, NULL, &out, err, cap);
	if (ret)
		return ret;
	ret = parse(out, r);
	free(out);
	if (ret) {
		rd_rules_free(r);
		return ze_reason(err, cap, ret, "reading %s output: %s", what,
				 ret == -EINVAL && einval ? einval : strerror(-ret));
	}
	return 0;
}

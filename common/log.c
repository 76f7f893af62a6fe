/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"
#include "log_format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>


/*
 * How the logging thread may write a line itself without ever blocking
 * (faults.md 2): FAST_WRITE on a descriptor where write() cannot wait for a
 * reader (a regular file, /dev/null, or a private O_NONBLOCK description of
 * a pipe), FAST_SEND with MSG_DONTWAIT on a socket; FAST_NONE (a terminal,
 * a pipe we cannot reopen): every line goes through the queue.
 */
enum fast_kind { FAST_NONE, FAST_WRITE, FAST_SEND };

/*
 * The bounded queue between the logging thread (the daemon's loop) and the
 * writer thread. Lines are appended whole at tail and written from head;
 * the writer does blocking writes on fd without holding mu, on bytes the
 * producer never touches until len says they are consumed.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;	/* the writer waits for lines */
	pthread_cond_t idle;	/* log_flush() waits for an empty queue */
	pthread_t thread;
	bool started, stopping, gave_up;
	bool last_ok;		/* the last write worked: a summary can get through */
	int fd;
	int fast_fd;
	bool own_fast_fd;
	enum fast_kind fast;
	char *buf;
	size_t cap, head, len;
	uint64_t dropped;	/* ever, for the metric */
	uint64_t gap;		/* dropped since the last summary line */
} q = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
	.fd = -1,
	.fast_fd = -1,
};

static size_t count_lines(const char *s, size_t n)
{
	size_t k = 0;

	while (n--)
		k += *s++ == '\n';
	return k;
}

/* Called with mu held (or before the writer exists). */
static void drop_lines(size_t k)
{
	q.dropped += k;
	q.gap += k;
}

/* Blocking write of everything, for before log_start() (or after log_stop()). */
static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Appends to the ring; the caller checked the room. */
static void push(const char *s, size_t n)
{
	size_t tail = (q.head + q.len) % q.cap, first = q.cap - tail < n ? q.cap - tail : n;

	memcpy(q.buf + tail, s, first);
	memcpy(q.buf, s + first, n - first);
	q.len += n;
}

/* The line saying how many were lost, queued where the loss is noticed. */
static bool push_summary(size_t room_after)
{
	char body[160], *line;
	size_t n;

	snprintf(body, sizeof(body),
		 "%" PRIu64 " log line%s dropped: stdout was not read fast enough (its reader is slow or stopped)",
		 q.gap, q.gap == 1 ? "" : "s");
	line = log_compose(LOG_WARN, "ztunnel_emulator::log", body, &n);
	if (!line)
		return false;
	if (q.cap - q.len < n + room_after) {
		free(line);
		return false;
	}
	push(line, n);
	free(line);
	q.gap = 0;
	return true;
}

static ssize_t fast_write(const char *s, size_t n)
{
	if (q.fast == FAST_SEND)
		return send(q.fast_fd, s, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(q.fast_fd, s, n);
}

/* One complete line (or block of lines), ending in '\n'. Never blocks once started. */
static void emit(const char *s, size_t n)
{
	ssize_t w;

	pthread_mutex_lock(&q.mu);
	if (!q.started) {
		pthread_mutex_unlock(&q.mu);
		write_all(STDOUT_FILENO, s, n);
		return;
	}
	if (n > q.cap) {
		drop_lines(count_lines(s, n));
		goto out;
	}
	/* nothing queued: the line can go straight out, in order, if it fits now */
	if (!q.len && !q.gap && q.fast != FAST_NONE) {
		do
			w = fast_write(s, n);
		while (w < 0 && errno == EINTR);
		if (w >= 0) {
			q.last_ok = true;
			s += w;
			n -= (size_t)w;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			q.last_ok = false;	/* the reader is gone: EPIPE */
			drop_lines(count_lines(s, n));
			goto out;
		}
		if (!n)
			goto out;
		/* the rest of a partly written line fits: the queue is empty */
	} else if (q.gap && q.last_ok) {
		push_summary(n);
	}
	if (q.cap - q.len < n) {
		drop_lines(count_lines(s, n));
		goto out;
	}
	push(s, n);
	pthread_cond_signal(&q.work);
out:
	pthread_mutex_unlock(&q.mu);
}

/* The calling thread's held lines (log_batch_begin()); only that thread touches it. */
#define BATCH_CAP 4096
static __thread struct {
	bool on;
	size_t len;
	char buf[BATCH_CAP];
} batch;

static void batch_flush(void)
{
	if (batch.len)
		emit(batch.buf, batch.len);
	batch.len = 0;
}

/* A complete line (or lines) on its way out: held while a batch is on and it fits. */
static void out(const char *s, size_t n)
{
	if (batch.on) {
		if (batch.len + n > BATCH_CAP)
			batch_flush();
		if (n <= BATCH_CAP) {
			memcpy(batch.buf + batch.len, s, n);
			batch.len += n;
			return;
		}
	}
	emit(s, n);
}

void log_batch_begin(void)
{
	batch.on = true;
}

void log_batch_end(void)
{
	batch_flush();
	batch.on = false;
}

/* Blocking write of part of the queue; -1 when the descriptor is broken. */
static ssize_t writer_write(const char *s, size_t n)
{
	struct pollfd pfd = { .fd = q.fd, .events = POLLOUT };
	ssize_t w;

	for (;;) {
		w = write(q.fd, s, n);
		if (w >= 0)
			return w;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			poll(&pfd, 1, -1);	/* someone else made it O_NONBLOCK */
		else if (errno != EINTR)
			return -1;
	}
}

/*
 * Capabilities, the bounding set and no_new_privs belong to each thread, and
 * the writer starts before the daemon drops its own (the start-up is logged
 * too): it gives up everything at once, as writing to an fd it already holds
 * needs nothing. Failures leave it no stronger than before.
 */
static void writer_drop_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
	unsigned long c;

	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	for (c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		prctl(PR_CAPBSET_DROP, c, 0, 0, 0);	/* needs CAP_SETPCAP: root only */
	memset(none, 0, sizeof(none));
	syscall(SYS_capset, &hdr, none);
}

static void *writer(void *arg)
{
	(void)arg;
	writer_drop_privileges();
	pthread_mutex_lock(&q.mu);
	for (;;) {
		size_t start, n;
		ssize_t w;

		if (!q.len && q.gap && q.last_ok)
			push_summary(0);
		if (!q.len) {
			pthread_cond_broadcast(&q.idle);
			if (q.stopping)
				break;
			pthread_cond_wait(&q.work, &q.mu);
			continue;
		}
		start = q.head;
		n = q.cap - start < q.len ? q.cap - start : q.len;
		pthread_mutex_unlock(&q.mu);
		w = writer_write(q.buf + start, n);
		pthread_mutex_lock(&q.mu);
		q.last_ok = w >= 0;
		if (w < 0) {
			/* a line cut by the end of the ring is counted by its second part */
			drop_lines(count_lines(q.buf + start, n));
			w = (ssize_t)n;
		}
		q.head = (q.head + (size_t)w) % q.cap;
		q.len -= (size_t)w;
	}
	pthread_mutex_unlock(&q.mu);
	return NULL;
}

/* A descriptor of the same pipe, terminal or file on which the logging thread never waits. */
static void choose_fast(int fd)
{
	struct stat st;
	char path[64];

	q.fast = FAST_NONE;
	if (fstat(fd, &st) < 0)
		return;
	if (S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))) {
		q.fast = FAST_WRITE;	/* a file or /dev/null: no reader to wait for */
		q.fast_fd = fd;
	} else if (S_ISSOCK(st.st_mode)) {
		q.fast = FAST_SEND;
		q.fast_fd = fd;
	} else if (S_ISFIFO(st.st_mode)) {
		/*
		 * O_NONBLOCK belongs to the open file description, which a shell
		 * pipeline shares with its other processes: a description of our
		 * own, opened through /proc, is non-blocking for us alone.
		 */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		q.fast_fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (q.fast_fd >= 0) {
			q.fast = FAST_WRITE;
			q.own_fast_fd = true;
		}
	}
}

static void stop_at_exit(void)
{
	log_stop(1.0);
}

int log_start(int fd, size_t queue_bytes)
{
	static bool registered;
	sigset_t all, old;
	int ret;

	if (q.started)
		return -EALREADY;
	if (queue_bytes < 4096)
		queue_bytes = 4096;
	q.buf = malloc(queue_bytes);
	if (!q.buf)
		return -ENOMEM;
	q.cap = queue_bytes;
	q.head = q.len = 0;
	q.fd = fd;
	q.last_ok = true;
	q.stopping = false;
	q.gap = 0;	/* a summary belongs to the stream that lost the lines */
	choose_fast(fd);
	/* signals stay with the loop's signalfd: the writer blocks them all from its first instruction */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&q.thread, NULL, writer, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		if (q.own_fast_fd)
			close(q.fast_fd);
		q.fast_fd = -1;
		q.own_fast_fd = false;
		free(q.buf);
		q.buf = NULL;
		return -ret;
	}
	q.started = true;
	if (!registered && !atexit(stop_at_exit))
		registered = true;
	return 0;
}

static bool drained(void)
{
	return !q.len && !(q.gap && q.last_ok);
}

bool log_flush(double seconds)
{
	struct timespec until;
	bool done;

	batch_flush();
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)seconds;
	until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q.mu);
	while (q.started && !drained()) {
		pthread_cond_signal(&q.work);	/* a summary may be due */
		if (pthread_cond_timedwait(&q.idle, &q.mu, &until) == ETIMEDOUT)
			break;
	}
	done = !q.started || drained();
	pthread_mutex_unlock(&q.mu);
	return done;
}

bool log_stop(double seconds)
{
	bool done;

	if (!q.started)
		return true;
	if (q.gave_up)
		return false;
	log_flush(seconds);
	pthread_mutex_lock(&q.mu);
	done = drained();
	if (done) {
		q.stopping = true;
		pthread_cond_signal(&q.work);
	}
	pthread_mutex_unlock(&q.mu);
	/*
	 * A writer stuck on a reader that never reads is left to the process
	 * exit, queue and all: waiting longer would stall SIGTERM.
	 */
	if (!done) {
		q.gave_up = true;
		return false;
	}
	pthread_join(q.thread, NULL);
	pthread_mutex_lock(&q.mu);
	q.started = false;
	if (q.own_fast_fd)
		close(q.fast_fd);
	q.fast_fd = -1;
	q.own_fast_fd = false;
	free(q.buf);
	q.buf = NULL;
	q.cap = 0;
	pthread_mutex_unlock(&q.mu);
	return true;
}

uint64_t log_dropped(void)
{
	uint64_t n;

	pthread_mutex_lock(&q.mu);
	n = q.dropped;
	pthread_mutex_unlock(&q.mu);
	return n;
}

/* The line's body from fmt, malloc'ed; NULL (the line counted as dropped) without memory. */
static char *format_body(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *format_body(const char *fmt, va_list ap)
{
	char *body = NULL;

	if (vasprintf(&body, fmt, ap) < 0) {
		pthread_mutex_lock(&q.mu);
		drop_lines(1);
		pthread_mutex_unlock(&q.mu);
		return NULL;
	}
	return body;
}

static void log_vline(enum log_level level, const char *target, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void log_vline(enum log_level level, const char *target, const char *fmt, va_list ap)
{
	char small[512], *body = small, *line;
	va_list again;
	size_t n;
	int k;

	if (!log_enabled(level, target))
		return;
	/*
	 * A body that fits is formatted once, on the stack: vasprintf() grows
	 * its buffer by reallocations (issue 18: a pod Add logs four lines).
	 */
	va_copy(again, ap);
	k = vsnprintf(small, sizeof(small), fmt, again);
	va_end(again);
	if (k < 0 || (size_t)k >= sizeof(small))
		body = format_body(fmt, ap);
	if (!body)
		return;
	line = log_compose(level, target, body, &n);
	if (body != small)
		free(body);
	if (line)
		out(line, n);
	free(line);
}

void log_line(enum log_level level, const char *target, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(level, target, fmt, ap);
	va_end(ap);
}

bool log_limited(struct log_limit *lim, enum log_level level, const char *target, const char *fmt, ...)
{
	struct timespec now;
	double age;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	age = (double)(now.tv_sec - lim->window.tv_sec) + (double)(now.tv_nsec - lim->window.tv_nsec) / 1e9;
	if (lim->in_window == 0 || age >= lim->interval) {
		lim->window = now;
		lim->in_window = 0;
	}
	if (lim->in_window >= lim->burst) {
		lim->suppressed++;
		return false;
	}
	lim->in_window++;
	va_start(ap, fmt);
	log_vline(level, target, fmt, ap);
	va_end(ap);
	if (lim->suppressed) {
		log_line(level, target, "suppressed %lu similar", lim->suppressed);
		lim->suppressed = 0;
	}
	return true;
}

void log_plain(const char *fmt, ...)
{
	va_list ap;
	char *body;
	size_t n;

	va_start(ap, fmt);
	body = format_body(fmt, ap);
	va_end(ap);
	if (!body)
		return;
	n = strlen(body);
	body[n] = '\n';	/* vasprintf left room for its NUL */
	out(body, n + 1);
	free(body);
}

/* One byte as Rust's escape_debug shows it; returns the length written to out. */
static size_t quote_byte(unsigned char c, char out[8])
{
	switch (c) {
	case '"':
	case '\\':
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	case '\0':
		return (size_t)snprintf(out, 8, "\\0");
	case '\n':
		return (size_t)snprintf(out, 8, "\\n");
	case '\r':
		return (size_t)snprintf(out, 8, "\\r");
	case '\t':
		return (size_t)snprintf(out, 8, "\\t");
	}
	if (c < 0x20 || c == 0x7f)
		return (size_t)snprintf(out, 8, "\\u{%x}", c);
	out[0] = (char)c;
	return 1;
}

const char *log_quote(char *dst, size_t cap, const char *s, size_t len)
{
	char piece[8];
	size_t o = 0, i, full = 2;	/* the quotes */
	bool cut;

	if (!cap)
		return dst;
	for (i = 0; i < len; i++)
		full += quote_byte((unsigned char)s[i], piece);
	cut = full + 1 > cap;
	/* a cut string ends in ..." and its NUL: at least "..." fits */
	if (cut && cap < 6) {
		dst[0] = '\0';
		return dst;
	}
	dst[o++] = '"';
	for (i = 0; i < len; i++) {
		size_t n = quote_byte((unsigned char)s[i], piece);

		if (cut && o + n + 5 > cap)
			break;
		memcpy(dst + o, piece, n);
		o += n;
	}
	if (cut) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

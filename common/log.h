/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_LOG_H
#define ZE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Log lines as ztunnel (or istio-cni) prints them (observability.md 1). A
 * line is log_line(level, target, "message k=v k=v"): the fields are what
 * follows the first " name=" in the text. Layouts:
 *   FULL (Istio 1.21, tracing's full format, the walk-thru's seeds):
 *     2024-02-21T22:01:49.916037Z  INFO ztunnel::inpod::workloadmanager: handling new stream
 *   TAB (ztunnel >= 1.22): TIME\tlevel\ttarget without ztunnel::\tmessage\tfields
 *   GO (istio-cni): as TAB, the target whole, no tab after a message without fields
 *   JSON (LOG_FORMAT=json, ztunnel >= 1.23): {"level":..,"time":..,"scope":..,
 *     "message":.., fields, "SPAN": {span fields}}, scope the whole target
 *   JSON_TRACING (ztunnel 1.22): {"timestamp":..,"level":"INFO","message":..,
 *     fields,"target":..,"span":{..,"name":..},"spans":[..]}
 */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_layout {
	LOG_LAYOUT_FULL, LOG_LAYOUT_TAB, LOG_LAYOUT_GO, LOG_LAYOUT_JSON, LOG_LAYOUT_JSON_TRACING
};

/* The layout of every later line (default FULL). */
void log_set_layout(enum log_layout layout);

/*
 * RUST_LOG-style filter: comma-separated directives, each LEVEL or
 * TARGET=LEVEL (off error warn info debug trace); a target matches itself
 * and its submodules, with or without the "ztunnel::" prefix; the longest
 * match wins, else the bare level (default info). Replaces the filter in
 * force: 0, or -EINVAL with why (the old filter kept).
 */
int log_set_filter(const char *spec, char *why, size_t cap);
/* The filter in force, as given ("info" by default). */
void log_filter_text(char *out, size_t cap);
/* Whether a line at level under target passes the filter. */
bool log_enabled(enum log_level level, const char *target);

/*
 * Without log_start() every line is one blocking write(2) to stdout, as for
 * any command-line tool. After it, lines go to fd (the daemon's stdout)
 * without ever blocking the caller: a line goes straight out when fd can take
 * it at once (a file, a socket or a pipe with room), else into a queue of at
 * most queue_bytes that a writer thread of its own drains. A full queue drops
 * lines and counts them, and once the reader catches up a WARN line says how
 * many were lost, so a stalled reader never stalls the daemon (faults.md 2).
 * Lines are never split or reordered. The queue is written out at exit(),
 * waiting at most a second. Returns 0 or -errno.
 */
int log_start(int fd, size_t queue_bytes);

/* Waits up to `seconds` until everything queued is written; true if it was. */
bool log_flush(double seconds);

/*
 * log_flush(), then ends the writer thread, back to blocking writes; false
 * (and the thread left to the process exit) if the queue did not drain.
 */
bool log_stop(double seconds);

/* Lines dropped since the program started, for ztunnel_emulator_log_dropped_total. */
uint64_t log_dropped(void);

void log_line(enum log_level level, const char *target, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The calling thread's lines from log_batch_begin() to log_batch_end() are
 * held and handed on together: one write(2) for a pod Add's four or five
 * lines instead of one each (issue 18). Same bytes, same order; lines that
 * would not fit in the batch (4 KiB) flush it first. log_flush()
 * writes a held batch out before anything else.
 */
void log_batch_begin(void);
void log_batch_end(void);

/*
 * Rate limit for one kind of repeated warning (refused peers, out of fds,
 * oversized requests): at most `burst` lines per `interval` seconds. Lines
 * over the limit are counted, and the first line let through afterwards is
 * followed by "suppressed N similar" so the log says what it left out.
 */
struct log_limit {
	double interval;	/* seconds */
	unsigned burst;
	struct timespec window;	/* CLOCK_MONOTONIC start of the current window */
	unsigned in_window;
	unsigned long suppressed;
};
#define LOG_LIMIT_INIT(seconds, lines) { .interval = (seconds), .burst = (lines) }

/* log_line() through a limit; returns true when the line was written. */
bool log_limited(struct log_limit *lim, enum log_level level, const char *target, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A line without timestamp or level, as ztunnel prints its config dump. */
void log_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Quote a received string the way Rust's Debug formatting would show it
 * ("...", with \" \\ \n and \u{..} escapes) so that hostile bytes cannot
 * forge log lines. Always NUL-terminates; truncates with "..." if needed.
 */
const char *log_quote(char *dst, size_t cap, const char *s, size_t len);

#endif

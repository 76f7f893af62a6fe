/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: --watch, the lab's stand-in for istio-cni's pod informer: inotify on
 * /run/netns. A name that appears is enrolled (uid = name, namespace and
 * service account "default") once its bind mount is there (`ip netns add`
 * creates the file first and mounts the netns on it a moment later) and its
 * lo is up (the pod's network is ready, as when the CNI plugin runs); a name
 * that goes is the pod's deletion (Del to every ztunnel, rules not touched:
 * the netns is gone). An overflowed queue means a rescan.
 * Never touches: sockets. Interface: agent.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cni.h"
#include "clock.h"
#include "err.h"
#include "log_go.h"
#include "redirect.h"

/* How long a new name may stay a plain file before it is given up on. */
#define MOUNT_WAIT_MS 5000
#define POLL_MS 50

/* A name seen, waiting for its netns to be mounted on it, then for its lo. */
struct candidate {
	struct list_node node;
	struct timespec until;	/* for the mount only: a pod's network may take its time */
	bool mounted;
	char name[NAME_MAX + 1];
};

static struct list_node candidates = { &candidates, &candidates };
static struct loop_timer cand_timer;
static struct timespec next_poll;

static bool wanted(const struct agent *a, const char *name)
{
	if (name[0] == '.')
		return false;
	return !a->cfg.watch_match || fnmatch(a->cfg.watch_match, name, 0) == 0;
}

/*
 * Enrols name if its netns is mounted (then *mounted) and its lo is up: true
 * when done with it (enrolled, refused or gone).
 */
static bool try_enroll(struct agent *a, const char *name, bool *mounted)
{
	char path[PATH_MAX];
	struct enroll_req r = { 0 };
	int fd, up;

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	fd = netns_open_path(path, NULL);
	if (fd < 0)
		return fd == -ENOENT;
	*mounted = true;
	if (apod_find(a, name)) {
		close(fd);
		return true;	/* already enrolled: nothing to wait for */
	}
	up = rd_link_up(fd, "lo");
	close(fd);
	if (up == 0)
		return false;	/* `ip netns add` leaves lo down: not a running pod yet */
	r.uid = r.name = name;
	r.namespace_ = r.service_account = "default";
	r.netns = path;
	r.watched = true;
	agent_enroll(a, &r, NULL);
	return true;
}

static void add_candidate(struct agent *a, const char *name)
{
	struct candidate *c;
	bool mounted = false;

	if (!wanted(a, name) || try_enroll(a, name, &mounted))
		return;
	if (mounted)
		golog(LOG_INFO, SCOPE_EMU, "pod %s: its lo is down, enrolling it once it is up", name);
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->mounted = mounted;
	snprintf(c->name, sizeof(c->name), "%s", name);
	clock_gettime(CLOCK_MONOTONIC, &c->until);
	c->until.tv_sec += MOUNT_WAIT_MS / 1000;
	list_add_tail(&candidates, &c->node);
}

static void drop_candidate(struct candidate *c)
{
	list_del(&c->node);
	free(c);
}

static void gone(struct agent *a, const char *name)
{
	struct list_node *n, *next;
	char path[PATH_MAX];

	for (n = candidates.next; n != &candidates; n = next) {
		next = n->next;
		if (!strcmp(container_of(n, struct candidate, node)->name, name))
			drop_candidate(container_of(n, struct candidate, node));
	}
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (wanted(a, name) && (apod_find(a, name) || apod_find_netns(a, path)))
		agent_unenroll(a, apod_find(a, name) ? name : path, true, NULL);
}

/* Every name now in /run/netns (at start, and after IN_Q_OVERFLOW). */
static void rescan(struct agent *a)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *e;

	struct list_node *n, *next;
	struct apod *p;

	for (n = a->pods.next; n != &a->pods; n = next) {
		next = n->next;
		p = container_of(n, struct apod, node);
		if (p->watched && access(p->netns, F_OK) && errno == ENOENT)
			gone(a, p->uid);
	}
	if (!d)
		return;
	while ((e = readdir(d)))
		add_candidate(a, e->d_name);
	closedir(d);
}

static void watch_ready(struct loop_src *src, uint32_t events)
{
	struct agent *a = src->ctx;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	(void)events;
	n = read(src->fd, buf, sizeof(buf));
	if (n <= 0)
		return;
	for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
		ev = (const struct inotify_event *)p;
		if (ev->mask & IN_Q_OVERFLOW) {
			golog(LOG_WARN, SCOPE_EMU, "watch: inotify queue overflowed, rescanning %s",
			      NETNS_DIR);
			rescan(a);
		} else if (ev->len && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
			add_candidate(a, ev->name);
		} else if (ev->len && (ev->mask & (IN_DELETE | IN_MOVED_FROM))) {
			gone(a, ev->name);
		}
	}
}

static long cand_next(void *ctx)
{
	(void)ctx;
	return list_empty(&candidates) ? -1 : ms_until(&next_poll);
}

/* Tries the names still waiting for their mount; gives up on them after 5 s. */
static void cand_run(void *ctx)
{
	struct agent *a = ctx;
	struct list_node *n, *next;
	struct candidate *c;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!expired(&next_poll, &now))
		return;
	next_poll = now;
	timespec_add(&next_poll, POLL_MS / 1000.0);
	for (n = candidates.next; n != &candidates; n = next) {
		next = n->next;
		c = container_of(n, struct candidate, node);
		if (try_enroll(a, c->name, &c->mounted) || (!c->mounted && expired(&c->until, &now)))
			drop_candidate(c);
	}
}

int watch_start(struct agent *a, char *why, size_t cap)
{
	int ret;

	if (mkdir(NETNS_DIR, 0755) && errno != EEXIST)
		return ze_reason(why, cap, -errno, "--watch: cannot create %s: %s", NETNS_DIR,
				 strerror(errno));
	a->watch.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (a->watch.fd < 0)
		return ze_reason(why, cap, -errno, "--watch: inotify: %s", strerror(errno));
	if (inotify_add_watch(a->watch.fd, NETNS_DIR,
			      IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR) < 0)
		return ze_reason(why, cap, -errno, "--watch: cannot watch %s: %s", NETNS_DIR,
				 strerror(errno));
	ret = loop_watch(&a->loop, &a->watch, EPOLLIN, watch_ready, a);
	if (ret)
		return ze_reason(why, cap, ret, "--watch: %s", strerror(-ret));
	loop_add_timer(&a->loop, &cand_timer, cand_next, cand_run, a);
	golog(LOG_INFO, SCOPE_EMU, "watching %s for pods%s%s", NETNS_DIR,
	      a->cfg.watch_match ? " matching " : "", a->cfg.watch_match ? a->cfg.watch_match : "");
	rescan(a);
	return 0;
}

void watch_stop(struct agent *a)
{
	while (!list_empty(&candidates))
		drop_candidate(container_of(candidates.next, struct candidate, node));
	if (a->watch.fd >= 0)
		close(a->watch.fd);
	a->watch.fd = -1;
}

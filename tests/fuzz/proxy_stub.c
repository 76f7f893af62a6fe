/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fuzzer's stand-in for proxy.o, linked instead of it: no netns visit,
 * no ports, eventfds for listeners. Everything else the fuzzer runs is the
 * daemon's own libzt.a. Interface: proxy.h (and proxy_stub.h for the harness).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fuzz_common.h"
#include "listeners.h"
#include "proxy.h"
#include "proxy_stub.h"

unsigned proxy_stub_start_attempts;

/*
 * One eventfd per listener of the profile, registered with epoll as the real
 * ones are. Like the real one, an optional listener ([::1] DNS) is not made
 * when the pod lacks the address: here when its namespace starts with "v4".
 * Fails like a bind error for a pod named "F...", always, at the listener
 * given by the name's length (so partial starts are undone), and for a pod
 * named "f..." on every other start attempt of the input (so a retry or a
 * repeated Add succeeds).
 */
int proxy_start(struct daemon *d, struct pod *p, char *err, size_t errlen)
{
	const struct config *cfg = &d->cfg;
	int fds[POD_MAX_LISTENERS], ret;
	size_t i, n = cfg->nspecs, fail_at = SIZE_MAX;
	bool no_ipv6 = !strncmp(p->namespace_, "v4", 2);

	FUZZ_CHECK(p->state != POD_UP, "proxy_start on a running pod");
	FUZZ_CHECK(p->netns_fd >= 0, "proxy_start without the pod's netns fd");
	FUZZ_CHECK(p->nlisteners == 0 && !p->relays, "proxy_start with %zu listeners still there",
		   p->nlisteners);
	for (i = 0; i < POD_MAX_LISTENERS; i++)
		FUZZ_CHECK(p->listeners[i].ev.fd < 0, "proxy_start with listener %zu still open", i);

	if (p->name[0] == 'F')
		fail_at = strlen(p->name) % n;
	else if (p->name[0] == 'f' && proxy_stub_start_attempts % 2 == 0)
		fail_at = 0;
	proxy_stub_start_attempts++;

	for (i = 0; i < n; i++)
		fds[i] = -1;
	for (i = 0; i < n; i++) {
		if (cfg->specs[i].optional && no_ipv6)
			continue;
		if (i == fail_at) {
			snprintf(err, errlen, "failed to bind to address %s: (fake)", cfg->specs[i].addr_text);
			ret = -EADDRINUSE;
			goto fail;
		}
		fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fds[i] < 0) {
			ret = -errno;
			snprintf(err, errlen, "eventfd: %s", strerror(-ret));
			goto fail;
		}
	}
	/* as the real one: IP_TRANSPARENT on an eventfd fails, so none is transparent */
	ret = pod_take_listeners(d, p, fds, err, errlen);
	if (ret)
		goto fail;
	clock_gettime(CLOCK_REALTIME, &p->started);
	return 0;

fail:
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret;
}

/* Relays only start from accepted connections, which eventfd listeners never have. */
int pod_socket(struct daemon *d, struct pod *p, int family, int type)
{
	(void)d;
	(void)p;
	(void)family;
	(void)type;
	FUZZ_CHECK(0, "pod_socket called: eventfd listeners cannot accept");
	return -ENOSYS;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's whole-state chores: freeing what was closed during an event
 * batch, and tearing everything down at exit. Owns no protocol logic.
 * Interface: daemon.h.
 */
#include <stdlib.h>
#include <unistd.h>

#include "daemon.h"
#include "pods.h"
#include "sockpath.h"
#include "zds_server.h"

void daemon_reap(struct daemon *d)
{
	relay_reap(d);
	while (d->dead_conns) {
		struct conn *c = d->dead_conns;

		d->dead_conns = c->next;
		free(c);
	}
	while (d->dead_pods) {
		struct pod *p = d->dead_pods;

		d->dead_pods = p->next;
		pod_free(p);
	}
}

void daemon_shutdown(struct daemon *d)
{
	zds_server_drop_all(d);
	http_stop(d);
	while (d->pods.head)
		pod_drain(d, d->pods.head);
	daemon_reap(d);
	pod_table_free(&d->pods);
	close(d->server.fd);
	sockpath_remove(&d->sock);
	close(d->sig.fd);
	close(d->epfd);
	close(d->own_netns_fd);
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	free(d->caps_kept);
}

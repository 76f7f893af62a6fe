/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's teardown at exit: every part closed in order, then what
 * was deferred freed. Owns no protocol logic.
 * Interface: daemon.h.
 */
#include <stdlib.h>
#include <unistd.h>

#include "admin/http.h"
#include "daemon.h"
#include "dns/server.h"
#include "hbone/hbone.h"
#include "pods.h"
#include "sockpath.h"
#include "zds_client.h"
#include "zds_server.h"

void daemon_shutdown(struct daemon *d)
{
	zds_client_stop(d);
	zds_server_drop_all(d);
	http_stop(d);
	while (d->pods.head)
		pod_drain(d, d->pods.head);
	relay_pool_stop(d);
	hbone_free(d);
	loop_run_deferred(&d->loop);
	dns_stop(d);
	pod_table_free(&d->pods);
	close(d->server.fd);
	sockpath_remove(&d->sock);
	close(d->sig.fd);
	loop_close(&d->loop);
	close(d->own_netns_fd);
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	free(d->caps_kept);
	free(d->drain);
}

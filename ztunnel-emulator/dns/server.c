/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's daemon half: the registry the daemon holds (load and
 * SIGHUP reload), each pod's DNS state, the decision for one query with its
 * log line and counters, upstream sockets, and the timer that times out
 * forwarded queries. The datagram path is udp.c, the stream path tcp.c, the
 * views dns_report.c. Interface: dns/server.h (dnsd.h inside the proxy).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "dnsd.h"
#include "log.h"
#include "proxy.h"
#include "registry.h"
#include "server.h"

#define T_DNS_SERVER "ztunnel::dns::server"
#define T_DNS "dns"
#define T_XDS "ztunnel::xds"

const double dns_bucket_bounds[DNS_BUCKETS] = { 0.0005, 0.001, 0.01, 0.1, 1, 5 };

uint64_t dns_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t dns_now_ms(void)
{
	return dns_now_us() / 1000;
}

static int load_registry(const char *path, struct registry **out, struct ze_err *e)
{
	struct reg_error re;
	int ret = registry_load(path, out, &re);

	if (ret)
		return ze_fail(e, ret, "registry %s", re.why);
	log_line(LOG_INFO, T_XDS, "local config initialized num_workloads=%zu num_services=%zu num_policies=%zu",
		 (*out)->n_workloads, (*out)->n_services, (*out)->n_policies);
	return 0;
}

/* The soonest deadline of any pod's forwarded query or TCP client. */
static long timer_next(void *ctx)
{
	struct daemon *d = ctx;
	uint64_t t = UINT64_MAX, now, x;
	struct list_node *n;

	list_for_each(n, &d->dns->active) {
		struct dns_pod *dp = container_of(n, struct dns_pod, active);

		x = dns_idmap_next_deadline(&dp->map);
		t = x < t ? x : t;
		x = dns_tcp_next_deadline(dp);
		t = x < t ? x : t;
	}
	if (t == UINT64_MAX)
		return -1;
	now = dns_now_ms();
	return t <= now ? 0 : (long)(t - now);
}

static void timer_run(void *ctx)
{
	struct daemon *d = ctx;
	uint64_t now = dns_now_ms();
	struct list_node *n, *next;

	for (n = d->dns->active.next; n != &d->dns->active; n = next) {
		struct dns_pod *dp = container_of(n, struct dns_pod, active);

		next = n->next;
		dns_udp_expire(dp, now);
		dns_tcp_expire(dp, now);
		if (!dp->map.n && !dp->n_tcp) {
			list_del(&dp->active);
			dp->is_active = false;
		}
	}
}

int dns_start(struct daemon *d, struct ze_err *e)
{
	int ret;

	d->dns = calloc(1, sizeof(*d->dns));
	if (!d->dns)
		return ze_fail(e, -ENOMEM, "out of memory");
	list_init(&d->dns->active);
	if (d->cfg.dns.registry) {
		ret = load_registry(d->cfg.dns.registry, &d->dns->reg, e);
		if (ret) {
			free(d->dns);
			d->dns = NULL;
			return ret;
		}
	}
	loop_add_timer(&d->loop, &d->dns->timer, timer_next, timer_run, d);
	return 0;
}

void dns_stop(struct daemon *d)
{
	if (!d->dns)
		return;
	registry_free(d->dns->reg);
	free(d->dns);
	d->dns = NULL;
}

const struct registry *dns_registry(const struct daemon *d)
{
	return d->dns ? d->dns->reg : NULL;
}

void dns_reload(struct daemon *d)
{
	struct registry *reg = NULL;
	struct ze_err e;

	if (!d->cfg.dns.registry) {
		log_line(LOG_INFO, T_EMU, "received SIGHUP: no --registry to reload");
		return;
	}
	d->dns->reloads++;
	if (load_registry(d->cfg.dns.registry, &reg, &e)) {
		d->dns->reload_failures++;
		log_line(LOG_ERROR, T_EMU, "received SIGHUP: cannot reload the %s; keeping the previous registry",
			 e.msg);
		return;
	}
	registry_free(d->dns->reg);
	d->dns->reg = reg;
	log_line(LOG_INFO, T_EMU, "received SIGHUP: registry %s reloaded", d->cfg.dns.registry);
}

void dns_pod_starting(struct daemon *d, struct pod *p)
{
	(void)p;
	if (d->cfg.profile == PROFILE_AMBIENT)
		log_line(LOG_INFO, T_DNS_SERVER, "starting local DNS server address=localhost:15053 component=\"dns\"");
}

static void free_dns_pod(struct loop_deferred *dd)
{
	struct dns_pod *dp = container_of(dd, struct dns_pod, dead);

	dns_idmap_free(&dp->map);
	free(dp);
}

struct dns_pod *dns_pod_get(struct daemon *d, struct pod *p)
{
	struct dns_pod *dp = p->dns;

	if (dp)
		return dp;
	dp = calloc(1, sizeof(*dp));
	if (!dp || dns_idmap_init(&dp->map, DNS_INFLIGHT_MAX)) {
		free(dp);
		return NULL;
	}
	dp->d = d;
	dp->pod = p;
	dp->from_daemon = d->cfg.dns.from_daemon;
	dp->up[0].fd = dp->up[1].fd = -1;
	list_init(&dp->tcp);
	p->dns = dp;
	return dp;
}

void dns_pod_activate(struct dns_pod *dp)
{
	if (!dp->is_active) {
		list_add_tail(&dp->d->dns->active, &dp->active);
		dp->is_active = true;
	}
}

void dns_pod_close(struct daemon *d, struct pod *p)
{
	struct dns_pod *dp = p->dns;

	if (!dp)
		return;
	dns_udp_close(dp);
	dns_tcp_close_all(dp);
	if (dp->is_active)
		list_del(&dp->active);
	p->dns = NULL;
	/* an event later in this turn may still name an upstream socket */
	loop_defer_free(&d->loop, &dp->dead, free_dns_pod);
}

/* The counters' row for (QTYPE, TCP), created on first use. */
static struct dns_row *row(struct dns_state *s, const char *qtype, bool tcp)
{
	char lower[16];
	size_t i;

	for (i = 0; i + 1 < sizeof(lower) && qtype[i]; i++)
		lower[i] = (char)tolower((unsigned char)qtype[i]);
	lower[i] = '\0';
	if (!lower[0])
		snprintf(lower, sizeof(lower), "unknown");
	for (i = 0; i < s->n_rows; i++)
		if (s->rows[i].tcp == tcp && !strcmp(s->rows[i].qtype, lower))
			return &s->rows[i];
	if (s->n_rows == DNS_ROWS)
		return &s->rows[DNS_ROWS - 1];
	snprintf(s->rows[s->n_rows].qtype, sizeof(s->rows[0].qtype), "%s",
		 s->n_rows == DNS_ROWS - 1 ? "other" : lower);
	s->rows[s->n_rows].tcp = tcp;
	return &s->rows[s->n_rows++];
}

void dns_count_forward(struct daemon *d, const char *qtype, bool tcp, bool failed, double secs)
{
	struct dns_row *r = row(d->dns, qtype, tcp);
	int b;

	if (failed) {
		r->failures++;
		return;
	}
	for (b = 0; b < DNS_BUCKETS && secs > dns_bucket_bounds[b]; b++)
		;
	r->buckets[b]++;
	r->sum += secs;
}

void dns_log_query(const struct dns_pod *dp, const char *qtype, const char *domain,
		   const char *result, int endpoints)
{
	const struct pod *p = dp->pod;
	char w[160], ns[160], dom[300], res[200];
	const char *pns = p->namespace_[0] ? p->namespace_ : "unknown";

	log_line(LOG_DEBUG, T_DNS, "src.workload=%s src.namespace=%s query=%s domain=%s result=%s endpoints=%d",
		 log_quote(w, sizeof(w), p->name, strlen(p->name)),
		 log_quote(ns, sizeof(ns), pns, strlen(pns)), qtype[0] ? qtype : "unknown",
		 log_quote(dom, sizeof(dom), domain, strlen(domain)),
		 log_quote(res, sizeof(res), result, strlen(result)), endpoints);
}

void dns_decide_query(struct dns_pod *dp, const uint8_t *q, size_t len, bool tcp,
		      struct dns_decision *dec)
{
	static struct log_limit limit = LOG_LIMIT_INIT(10, 5);
	struct daemon *d = dp->d;
	/* our own enrolled pods are known clients (dns.md): by the Add's namespace */
	struct dns_client client = { .ns = dp->pod->namespace_, .network = NULL };
	struct dns_ctx ctx = {
		.reg = d->dns->reg,
		.cluster_domain = d->cfg.dns.cluster_domain,
		.preferred_ns = getenv("PREFERED_SERVICE_NAMESPACE"),
		.ipv6_enabled = true,
	};

	if (dns_decide(&ctx, &client, q, len, tcp, dec) < 0)
		snprintf(dec->why, sizeof(dec->why), "out of memory");
	if (dec->action == DNS_DROP) {
		d->dns->dropped++;
		log_limited(&limit, LOG_DEBUG, T_DNS, "dropped a query from pod %s over %s: %s",
			    dp->pod->name, tcp ? "tcp" : "udp", dec->why);
		return;
	}
	row(d->dns, dec->qtype_name, tcp)->requests++;
	if (dec->action == DNS_FORWARD)
		row(d->dns, dec->qtype_name, tcp)->upstream++;
	else
		dns_log_query(dp, dec->qtype_name, dec->domain, dec->result, dec->endpoints);
}

int dns_upstream_socket(struct dns_pod *dp, int family, int type)
{
	struct daemon *d = dp->d;
	uint32_t mark = d->cfg.mark;
	int fd, ret;

	if (dp->from_daemon) {
		fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
	} else {
		fd = pod_socket(d, dp->pod, family, type);
		if (fd < 0)
			return fd;
	}
	/* mark 1337: the in-pod rules' "! --mark 0x539" lets the query out (dns.md) */
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the inspect verb: collect (listeners, rules, policy routing, the
 * daemon's socket and config_dump), the verdict, then one view.
 * Never touches: argv, the rules (reads only). Interface: cni.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cni.h"
#include "fdpass.h"
#include "guard.h"
#include "inspect/inspect.h"
#include "prepare.h"
#include "uds.h"
#include "zds.h"

/* Is there a TCP listener on port (any address) in ls? */
static bool tcp_listens(const struct lsocks *ls, unsigned int port)
{
	char suffix[16];
	size_t i, n = (size_t)snprintf(suffix, sizeof(suffix), ":%u", port);

	for (i = 0; i < ls->n; i++) {
		size_t len = strlen(ls->v[i].local);

		if (!strcmp(ls->v[i].proto, "tcp") && len > n &&
		    !strcmp(ls->v[i].local + len - n, suffix))
			return true;
	}
	return false;
}

/*
 * Fault 22: rules that send TCP to ports nobody listens on refuse the pod's
 * traffic (e.g. after the daemon was killed). DNS (15053) is left out: the
 * walk-thru daemon has no DNS proxy and says so elsewhere.
 */
static void inspect_verdict(struct inspect *in)
{
	static const char *const keys[] = { "--to-ports ", "--to-port ", "--on-port " };
	unsigned int ports[8], port;
	size_t i, k, n = 0, len = 0, j;
	const char *p;

	const struct rd_entry *e;

	if (in->rules_ret || in->ls_ret)
		return;
	/* the IPv4 rules, then the IPv6 ones (none when they could not be read) */
	for (i = 0; i < in->rules.n + in->rules6.n; i++) {
		e = i < in->rules.n ? &in->rules.e[i] : &in->rules6.e[i - in->rules.n];
		if (!e->rule || strncmp(e->chain, "ISTIO_", 6))
			continue;
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			p = strstr(e->rule, keys[k]);
			if (!p || sscanf(p + strlen(keys[k]), "%u", &port) != 1 || port == 15053)
				continue;
			for (j = 0; j < n && ports[j] != port; j++)
				;
			if (j == n && n < sizeof(ports) / sizeof(ports[0]) && !tcp_listens(&in->ls, port))
				ports[n++] = port;
		}
	}
	if (!n)
		return;
	len = (size_t)snprintf(in->verdict, sizeof(in->verdict),
			       "traffic of this pod is refused: its rules redirect to ");
	for (j = 0; j < n && len < sizeof(in->verdict); j++)
		len += (size_t)snprintf(in->verdict + len, sizeof(in->verdict) - len, "%s%u",
					j ? (j + 1 == n ? " and " : ", ") : "", ports[j]);
	if (len < sizeof(in->verdict))
		snprintf(in->verdict + len, sizeof(in->verdict) - len,
			 " but nothing listens there (re-add the pod, or remove its rules with "
			 "del --netns)");
}

static void inspect_daemon(struct inspect *in, int timeout_ms)
{
	char *body = NULL;
	int status = 0;

	if (in->no_admin) {
		in->http_ret = -ENOENT;
		snprintf(in->http_err, sizeof(in->http_err),
			 "no listener of it answers /config_dump (give --admin URL)");
		return;
	}
	in->http_ret = dump_http_get(&in->url, timeout_ms, &status, &body, in->http_err,
				sizeof(in->http_err));
	if (in->http_ret)
		return;
	in->reachable = true;
	if (status != 200) {
		snprintf(in->http_err, sizeof(in->http_err), "it answered HTTP %d", status);
		in->http_ret = -EPROTO;
	} else if (dump_find_pod(body, &in->id, &in->enrolled, &in->pod, &in->npods)) {
		snprintf(in->http_err, sizeof(in->http_err),
			 "its answer is not a config_dump (JSON with .emulator.pods[].netns.inode)");
		in->http_ret = -EPROTO;
	}
	free(body);
}

/* --socket: does the daemon answer with a ZDS v1 hello? (it logs a stream that ends at once) */
static void inspect_socket(struct inspect *in, int timeout_ms)
{
	uint8_t buf[ZDS_MAX_MSG];
	struct fdpass_msg m;
	const char *why = NULL;
	uint64_t version;
	int fd = uds_connect(in->sock), ret;

	if (fd < 0) {
		char hint[400] = "";

		if (fd == -EACCES)
			guard_explain_eacces(in->sock, hint, sizeof(hint));
		in->sock_ret = fd;
		snprintf(in->sock_err, sizeof(in->sock_err), "connect: %s%s", strerror(-fd), hint);
		return;
	}
	in->daemon_pid = guard_peer_pid(fd);
	ret = uds_recv_timeout(fd, buf, sizeof(buf), timeout_ms, &m);
	if (!ret && m.nfds) {
		fdpass_close_fds(&m);
		ret = -EPROTO;
	}
	if (ret)
		snprintf(in->sock_err, sizeof(in->sock_err), "receiving the hello: %s",
			 strerror(-ret));
	else if (zds_decode_hello(buf, m.len, &version, &why) || version != ZDS_VERSION_V1)
		snprintf(in->sock_err, sizeof(in->sock_err), "no ZDS v1 hello%s%s", why ? ": " : "",
			 why ? why : "");
	in->sock_ret = ret ? ret : in->sock_err[0] ? -EPROTO : 0;
	close(fd);
}

int cmd_inspect(const char *spec, const struct url *admin, const struct opts *o)
{
	struct inspect in;
	char why[8192];
	int fd, ret, r6;

	memset(&in, 0, sizeof(in));
	in.spec = spec;
	in.sock = o->socket;
	in.url = *admin;
	fd = open_netns(spec, in.path, sizeof(in.path), &in.name, why, sizeof(why));
	if (fd < 0)
		return cli_err("%s", why);
	netns_fd_id(fd, &in.id);

	in.ls_ret = read_listeners(fd, &in.ls, in.ls_err, sizeof(in.ls_err));
	/* stuck in the pod's netns: nothing more is read or shown */
	if (in.ls_ret == -ENOTRECOVERABLE) {
		close(fd);
		return cli_err("%s", in.ls_err);
	}
	in.rules_ret = rd_read(fd, &in.rules, in.rules_err, sizeof(in.rules_err));
	if (!in.rules_ret)
		in.variant_ret = rd_identify(&in.rules, &in.variant, &in.dns);
	in.ipv6 = rd_has_ipv6(fd);
	in.inet = rd_get_backend() == RD_NFTABLES;
	/*
	 * The IPv6 set is shown wherever the kernel has IPv6, captured or not
	 * (fault 6); nftables has none apart: its inet tables are rules.
	 */
	in.rules6_ret = in.ipv6 == -ENOENT || in.inet ? -ENOENT :
			rd_read_family(fd, RD_IPV6, &in.rules6, in.rules6_err, sizeof(in.rules6_err));
	if (in.rules6_ret == -ENOENT)
		snprintf(in.rules6_err, sizeof(in.rules6_err), "%s",
			 in.inet ? "the inet tables carry IPv6" : "this kernel has no IPv6");
	if (!in.rules6_ret)
		in.variant6_ret = rd_identify(&in.rules6, &in.variant6, &in.dns6);
	in.pol_ret = rd_policy_read(fd, &in.pol, in.pol_err, sizeof(in.pol_err));
	if (in.pol_ret == -ENOTRECOVERABLE || in.ipv6 == -ENOTRECOVERABLE) {
		close(fd);
		lsocks_free(&in.ls);
		rd_rules_free(&in.rules);
		rd_rules_free(&in.rules6);
		rd_policy_free(&in.pol);
		return cli_err("%s", in.pol_ret ? in.pol_err :
				"could not return to the original network namespace");
	}
	close(fd);
	if (in.sock)
		inspect_socket(&in, o->timeout_ms);
	/* the daemon behind --socket, not whatever answers on the default port */
	if (in.sock && !o->admin &&
	    dump_find_admin(in.daemon_pid, 0, o->timeout_ms, &in.url, NULL)) {
		in.no_admin = true;
		if (in.daemon_pid > 0)
			snprintf(in.url.text, sizeof(in.url.text), "the daemon behind %s (pid %d)",
				 in.sock, (int)in.daemon_pid);
		else
			snprintf(in.url.text, sizeof(in.url.text), "the daemon behind %s", in.sock);
	}
	inspect_daemon(&in, o->timeout_ms);
	inspect_verdict(&in);

	if (o->given & OPT_JSON)
		print_json(stdout, &in);
	else
		print_human(stdout, &in);
	r6 = in.rules6_ret == -ENOENT ? 0 : in.rules6_ret;
	ret = in.ls_ret ? in.ls_ret : in.rules_ret ? in.rules_ret : r6 ? r6 : in.pol_ret;
	if (ret)
		cli_err("%s: could not read everything: %s%s", in.name ? in.name : spec,
			in.ls_ret ? in.ls_err : in.rules_ret ? in.rules_err :
			r6 ? in.rules6_err : in.pol_err, perm_hint(ret));
	lsocks_free(&in.ls);
	rd_rules_free(&in.rules);
	rd_rules_free(&in.rules6);
	rd_policy_free(&in.pol);
	/* enrolment that could not be read is no "all clear" either */
	return ret || in.verdict[0] || in.http_ret ? 1 : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the daemon may do: the capabilities its options need (checked at
 * start, the rest dropped after it), the open-file limit, and the capacity
 * line it implies (faults.md 20). Never prints but through the log, never
 * exits. Interface: privs.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "caps.h"
#include "daemon.h"
#include "log.h"
#include "privs.h"

/* The capabilities the options need; the rest are dropped after start-up. */
static size_t needed_caps(const struct config *cfg, cap_value_t *caps)
{
	const struct http_addr *h[] = { &cfg->admin, &cfg->ready, &cfg->metrics };
	size_t n = 0, i;

	caps[n++] = CAP_SYS_ADMIN;	/* setns() into pod network namespaces */
	if (cfg->mark)
		caps[n++] = CAP_NET_ADMIN;	/* SO_MARK */
	if (cfg->transparent)
		caps[n++] = CAP_NET_RAW;	/* IP_TRANSPARENT, and binding the client's address */
	for (i = 0; i < 3; i++) {
		uint16_t port = ntohs(((const struct sockaddr_in *)&h[i]->sa)->sin_port);

		/* sin_port and sin6_port sit at the same offset */
		if (h[i]->enabled && port && port < 1024) {
			caps[n++] = CAP_NET_BIND_SERVICE;
			break;
		}
	}
	return n;
}

static const char *cap_reason(cap_value_t cap)
{
	return cap == CAP_SYS_ADMIN ? "to setns() into pod network namespaces" :
	       cap == CAP_NET_ADMIN ? "to set SO_MARK on pod sockets" :
	       cap == CAP_NET_RAW ? "for IP_TRANSPARENT sockets" :
	       cap == CAP_NET_BIND_SERVICE ? "to bind HTTP ports below 1024" : "";
}

/* Names every missing capability, why it is needed, and the setcap line that grants them. */
int privs_check(const struct config *cfg, struct ze_err *e)
{
	cap_value_t caps[6];
	char missing[512] = "", grant[256] = "", exe[PATH_MAX];
	size_t n = needed_caps(cfg, caps), i, k, nmissing = 0;
	ssize_t len;

	for (i = 0; i < n; i++) {
		char *name, upper[64];

		if (caps_have_effective(caps[i]) != 0)
			continue;	/* have it, or libcap cannot tell: setns errors will say */
		name = cap_to_name(caps[i]);
		if (!name)
			continue;
		for (k = 0; name[k] && k < sizeof(upper) - 1; k++)
			upper[k] = (char)toupper((unsigned char)name[k]);
		upper[k] = '\0';
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s (%s)",
			 nmissing ? ", " : "", upper, cap_reason(caps[i]));
		snprintf(grant + strlen(grant), sizeof(grant) - strlen(grant), "%s%s",
			 nmissing ? "," : "", name);
		nmissing++;
		cap_free(name);
	}
	if (!nmissing)
		return 0;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	return ze_fail(e, -EPERM, "missing %s: run as root, or grant %s with 'sudo setcap %s+ep %s'",
			  missing, nmissing > 1 ? "them" : "it", grant,
			  len > 0 ? exe : "ztunnel-emulator/ztunnel-emulator");
}

/* After start-up: keep only what the options need; no ambient set, no_new_privs. */
void privs_drop(struct daemon *d)
{
	cap_value_t caps[6];
	size_t n = needed_caps(&d->cfg, caps);
	bool trimmed = false;
	int ret = caps_limit_to(caps, n, &trimmed);

	if (ret)
		log_line(LOG_WARN, T_EMU, "cannot drop unneeded capabilities: %s", strerror(-ret));
	d->caps_kept = caps_text();
	log_line(LOG_INFO, T_EMU, "capabilities kept: %s (bounding set %s; no ambient; no_new_privs)",
		 d->caps_kept ? d->caps_kept : "unknown",
		 trimmed ? "trimmed to match" : "unchanged: trimming it needs CAP_SETPCAP");
}

/*
 * Each pod holds 4 fds (netns + 3 listeners), 8 in the ambient profile: the
 * default soft limit of 1024 would cap a node at ~250 pods. Ambient relays
 * take up to 6 each (--max-relays, or room for 16384 when not given).
 */
void privs_raise_fd_limit(const struct config *cfg)
{
	rlim_t want = (rlim_t)cfg->max_pods * (cfg->nspecs + 1) + cfg->max_conns + 64, nr_open = 0;
	struct rlimit rl;
	FILE *f;

	if (cfg->relay)
		want += (rlim_t)(cfg->max_relays ? cfg->max_relays : 16384) * RELAY_FDS;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* a privileged daemon may lift the hard limit too (CAP_SYS_RESOURCE), up to fs.nr_open */
	if (rl.rlim_max < want) {
		f = fopen("/proc/sys/fs/nr_open", "r");
		if (f) {
			unsigned long long v;

			if (fscanf(f, "%llu", &v) == 1)
				nr_open = (rlim_t)v;
			fclose(f);
		}
		if (nr_open && want > nr_open)
			want = nr_open;
		if (want > rl.rlim_max) {
			struct rlimit up = { want, want };

			if (setrlimit(RLIMIT_NOFILE, &up) == 0)
				return;
		}
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_line(LOG_WARN, T_EMU, "cannot raise the open-file limit: %s", strerror(errno));
	}
}

/*
 * How many pods the open-file limit leaves room for, next to --max-pods, and
 * how many relays (faults.md 20): relays only get what pods leave, so the
 * relay figure is for now, with no pod running yet.
 */
void privs_log_capacity(struct daemon *d)
{
	char relays[256] = "";
	struct rlimit rl;
	size_t used = 0, room;
	DIR *dir = opendir("/proc/self/fd");

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || !dir) {
		if (dir)
			closedir(dir);
		return;
	}
	while (readdir(dir))
		used++;
	closedir(dir);
	/* every connection takes one fd; a pod 1 + one per listener, one more while starting */
	room = rl.rlim_cur > used + d->cfg.max_conns + 8 ?
		       (size_t)(rl.rlim_cur - used - d->cfg.max_conns - 8) / (d->cfg.nspecs + 1) : 0;
	relay_limits_init(d, rl.rlim_cur > SIZE_MAX ? SIZE_MAX : (size_t)rl.rlim_cur, used);
	if (d->cfg.relay)
		snprintf(relays, sizeof(relays),
			 "; relayed connections get what pods leave: up to %zu (--max-relays; %d fds each, %d for a pod-to-pod connection on this node), %zu per pod (--max-relays-per-pod)",
			 d->cfg.max_relays, RELAY_FDS, 2 * RELAY_FDS, d->cfg.max_relays_per_pod);
	log_line(room < d->cfg.max_pods ? LOG_WARN : LOG_INFO, T_EMU,
		 "open-file limit %llu: room for %zu pods (--max-pods %zu, --max-connections %zu)%s",
		 (unsigned long long)rl.rlim_cur, room, d->cfg.max_pods, d->cfg.max_conns, relays);
}

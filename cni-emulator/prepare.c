/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: turning NETNS arguments into pods ready to send (fd opened and
 * checked, uid and name chosen, Add encoded), the host-netns refusal
 * (fault 3), and the /run/netns listing.
 * Never touches: the daemon's socket, the rules. Interface: prepare.h.
 */
#include "prepare.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "cni.h"
#include "guard.h"
#include "netns.h"

/* Opens and checks NETNS before anything reaches the daemon: fd, or -errno and why. */
int open_netns(const char *spec, char *path, size_t cap, const char **name, char *why,
		      size_t whycap)
{
	int fd, ret = netns_resolve(spec, path, cap, name);

	if (ret == -EINVAL) {
		snprintf(why, whycap, "invalid network namespace '%s'", spec);
		return ret;
	}
	if (ret) {
		snprintf(why, whycap, "%s: %s", spec, strerror(-ret));
		return ret;
	}
	fd = netns_open_path(path, &ret);
	if (fd >= 0)
		return fd;
	if (fd == -ENOENT && *name)
		snprintf(why, whycap, "%s: No such file or directory (create it with 'ip netns add %s')",
			 path, *name);
	else if (fd == -ENOTTY)
		snprintf(why, whycap, "%s: not a namespace file", path);
	else if (fd == -EINVAL)
		snprintf(why, whycap, "%s: is a %s namespace, not a network namespace", path,
			 ns_type_name(ret));
	else
		snprintf(why, whycap, "%s: %s", path, strerror(-fd));
	return fd;
}

/* Encodes a request into out (ZDS_MAX_MSG bytes): its length, or -ENOBUFS. */
ssize_t encode_req(uint8_t *out, enum zds_req_type type, const char *uid, const char *name,
			  const struct opts *o)
{
	struct zds_request req = { .type = type, .uid = zds_str_c(uid) };

	if (type == ZDS_REQ_ADD) {
		req.has_workload_info = true;
		req.info.name = zds_str_c(name);
		req.info.namespace_ = zds_str_c(o->namespace_);
		req.info.service_account = zds_str_c(o->service_account);
	}
	return zds_encode_request(out, ZDS_MAX_MSG, &req);
}

/*
 * Opens spec and encodes its Add; uid and name default per netns (its name,
 * else netns-<inode>, so that two pods never share a uid by accident).
 * 0, or -errno with why (prefixed with ctx, when not NULL, for errors that
 * would not name the netns). Leaves no fd open on error.
 */
int pod_prepare(struct pod *p, const char *spec, const struct opts *o, const char *ctx,
		       char *why, size_t whycap)
{
	char path[4096];
	const char *name;
	struct netns_id id;
	ssize_t n;

	p->spec = spec;
	p->nsfd = open_netns(spec, path, sizeof(path), &name, why, whycap);
	if (p->nsfd < 0)
		return p->nsfd;
	p->where = name ? name : spec;
	p->uid = o->uid;
	if (!p->uid && name) {
		p->uid = name;
	} else if (!p->uid) {
		netns_fd_id(p->nsfd, &id);
		snprintf(p->uidbuf, sizeof(p->uidbuf), "netns-%llu", (unsigned long long)id.ino);
		p->uid = p->uidbuf;
	}
	n = encode_req(p->msg, ZDS_REQ_ADD, p->uid, o->name ? o->name : p->uid, o);
	if (n < 0) {
		snprintf(why, whycap, "%s%sthe add request would exceed %d bytes; use shorter names",
			 ctx ? ctx : "", ctx ? ": " : "", ZDS_MAX_MSG);
		close(p->nsfd);
		p->nsfd = -1;
		return -ENOBUFS;
	}
	p->len = (size_t)n;
	return 0;
}

static int netns_dir_entry(const struct dirent *e)
{
	return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

/*
 * One entry of NETNS_DIR for sync --all: 0 prepared; 1 skipped, with
 * skip() told why; -errno with why in *e.
 */
static int prepare_entry(struct pod *p, const char *entry, const struct opts *o,
			 void (*skip)(const char *why), struct ze_err *e)
{
	char why[8192];
	struct stat st;
	int ret;

	if (asprintf(&p->spec_owned, NETNS_DIR "/%s", entry) < 0) {
		p->spec_owned = NULL;
		return ze_fail(e, -ENOMEM, "out of memory");
	}
	/* opening a fifo would block; a netns bind mount is a regular file */
	if (stat(p->spec_owned, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "%s: not a namespace file", p->spec_owned);
		ret = 1;
	} else {
		ret = pod_prepare(p, p->spec_owned, o, p->spec_owned, why, sizeof(why));
		if (ret == -ENOENT)
			snprintf(why, sizeof(why), "%s: removed while listing", p->spec_owned);
		if (ret == -ENOENT || ret == -ENOTTY || ret == -EINVAL)
			ret = 1;
		else if (ret)
			ze_fail(e, ret, "%s", why);
	}
	if (ret == 1)
		skip(why);
	if (ret) {
		free(p->spec_owned);
		p->spec_owned = NULL;
	}
	return ret;
}

int pod_refuse_host(const struct pod *p, pid_t daemon, bool allow, struct ze_err *e)
{
	char why[256];
	int ret;

	if (allow)
		return 0;
	ret = guard_host_netns(p->nsfd, daemon, why, sizeof(why));
	if (ret < 0)
		return ze_fail(e, ret, "%s: identifying the network namespace: %s", p->where,
			       strerror(-ret));
	if (ret)
		return ze_fail(e, -EPERM, "%s: refusing to install redirection rules in the host "
			       "network namespace: %s; nothing was changed (--allow-host-netns "
			       "overrides)", p->where, why);
	return 0;
}

void pods_free(struct pod *pods, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		close(pods[i].nsfd);
		free(pods[i].spec_owned);
	}
	free(pods);
}

ssize_t prepare_pods(struct pod **pods, char **specs, size_t nspecs, bool all,
		     const struct opts *o, void (*skip)(const char *why), struct ze_err *e)
{
	struct dirent **ents = NULL;
	char why[8192];
	size_t i, n = nspecs, npods = 0;
	int ret = 0, scanned;

	if (all) {
		scanned = scandir(NETNS_DIR, &ents, netns_dir_entry, alphasort);
		if (scanned < 0 && errno != ENOENT)
			return ze_fail(e, -errno, "%s: %s", NETNS_DIR, strerror(errno));
		n = scanned < 0 ? 0 : (size_t)scanned;	/* no `ip netns add` yet: no pods */
	}
	*pods = calloc(n ? n : 1, sizeof(**pods));
	if (!*pods)
		ret = ze_fail(e, -ENOMEM, "out of memory");
	for (i = 0; i < n && !ret; i++) {
		/* --match: the names the user left out are not pods of this sync, not skips */
		if (all && o->match && fnmatch(o->match, ents[i]->d_name, 0))
			continue;
		if (all) {
			ret = prepare_entry(&(*pods)[npods], ents[i]->d_name, o, skip, e);
			npods += !ret;
			ret = ret < 0 ? ret : 0;
		} else {
			ret = pod_prepare(&(*pods)[npods], specs[i], o, specs[i], why, sizeof(why));
			if (ret)
				ze_fail(e, ret, "%s", why);
			else
				npods++;
		}
	}
	for (i = 0; all && i < n; i++)
		free(ents[i]);
	free(ents);
	if (ret) {
		pods_free(*pods, npods);
		*pods = NULL;
		return ret;
	}
	return (ssize_t)npods;
}

int check_pods(const struct pod *pods, size_t npods, struct ze_err *e)
{
	struct zds_request req;
	const char *why = NULL;
	char q[1100];
	size_t i, j;

	for (i = 0; i < npods; i++) {
		log_quote(q, sizeof(q), pods[i].uid, strlen(pods[i].uid));
		if (zds_decode_request(pods[i].msg, pods[i].len, &req, &why))
			return ze_fail(e, -EINVAL,
				       "%s: pod %s: %s; the daemon would refuse the add request",
				       pods[i].spec, q, why);
		for (j = 0; j < i; j++)
			if (!strcmp(pods[i].uid, pods[j].uid))
				return ze_fail(e, -EEXIST, "%s: pod %s is already listed (as %s)",
					       pods[i].spec, q, pods[j].spec);
	}
	return 0;
}

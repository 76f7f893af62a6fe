/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the config_dump reader (HTTP GET, jansson) and the admin endpoint
 * search. Never touches: output, the pod's netns. Interface: inspect/admin.h.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "sockdiag.h"



/* "http://HOST[:PORT][/PATH]" (HOST may be [IPv6]); an empty path means /config_dump. */
int dump_parse_url(const char *s, struct url *u)
{
	const char *h = s, *p, *hend;
	size_t hlen;

	if (!strncmp(h, "http://", 7))
		h += 7;
	else if (strstr(h, "://"))
		return -EPROTONOSUPPORT;
	if (*h == '[') {
		hend = strchr(h, ']');
		if (!hend)
			return -EINVAL;
		hlen = (size_t)(hend - h - 1);
		h++;
		p = hend + 1;
	} else {
		p = h + strcspn(h, ":/");
		hlen = (size_t)(p - h);
	}
	if (!hlen || hlen >= sizeof(u->host))
		return -EINVAL;
	snprintf(u->host, sizeof(u->host), "%.*s", (int)hlen, h);
	snprintf(u->port, sizeof(u->port), "80");
	if (*p == ':') {
		size_t plen = strspn(p + 1, "0123456789");

		if (!plen || plen >= sizeof(u->port) || (p[1 + plen] && p[1 + plen] != '/') ||
		    atoi(p + 1) < 1 || atoi(p + 1) > 65535)
			return -EINVAL;
		snprintf(u->port, sizeof(u->port), "%.*s", (int)plen, p + 1);
		p += 1 + plen;
	}
	if (*p && *p != '/')
		return -EINVAL;
	if (strlen(p) >= sizeof(u->path) || strpbrk(p, " \r\n"))
		return -EINVAL;
	snprintf(u->path, sizeof(u->path), "%s", *p && strcmp(p, "/") ? p : "/config_dump");
	snprintf(u->text, sizeof(u->text), "http://%s%s%s:%s%s", strchr(u->host, ':') ? "[" : "",
		 u->host, strchr(u->host, ':') ? "]" : "", u->port, u->path);
	return 0;
}

/* GET u: 0 with the HTTP status and body (malloc'd, NUL-terminated), or -errno and why. */
int dump_http_get(const struct url *u, int timeout_ms, int *status, char **body, char *err,
		    size_t cap)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	char req[1400], *buf = NULL, *hdr_end;
	size_t len = 0, bcap = 0;
	ssize_t n;
	int fd = -1, ret, gai;

	*body = NULL;
	gai = getaddrinfo(u->host, u->port, &hints, &res);
	if (gai) {
		snprintf(err, cap, "%s", gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	ret = -ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		/* SO_SNDTIMEO bounds connect() too */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		ret = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, cap, "%s", strerror(-ret));
		return ret;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: application/json\r\n"
		     "Connection: close\r\n\r\n", u->path, u->host, u->port);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto fail;
	}
	for (;;) {
		if (len + 4096 + 1 > bcap) {
			char *nb;

			bcap = bcap ? bcap * 2 : 16384;
			if (bcap > (16u << 20)) {
				ret = -EFBIG;
				goto fail;
			}
			nb = realloc(buf, bcap);
			if (!nb) {
				ret = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, bcap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	fd = -1;
	if (!buf) {
		snprintf(err, cap, "empty response");
		return -EPROTO;
	}
	buf[len] = '\0';
	hdr_end = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) || !hdr_end || sscanf(buf + 8, " %d", status) != 1) {
		free(buf);
		snprintf(err, cap, "not an HTTP response");
		return -EPROTO;
	}
	memmove(buf, hdr_end + 4, len - (size_t)(hdr_end + 4 - buf) + 1);
	*body = buf;
	return 0;
fail:
	snprintf(err, cap, "%s", strerror(-ret));
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* A JSON string into out (truncated to cap), or -EINVAL when v is not one. */
static int copy_str(const json_t *v, char *out, size_t cap)
{
	if (!json_is_string(v))
		return -EINVAL;
	snprintf(out, cap, "%s", json_string_value(v));
	return 0;
}

/*
 * One element of .emulator.pods[]: an object; uid and state are strings when there;
 * netns, when an object, has an integer inode and a string dev (anything
 * else - null - names no netns). 0 or -EINVAL.
 */
static int read_pod(const json_t *o, struct dump_pod *p)
{
	const json_t *v, *ns;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(o))
		return -EINVAL;
	if ((v = json_object_get(o, "uid")) && copy_str(v, p->uid, sizeof(p->uid)))
		return -EINVAL;
	if ((v = json_object_get(o, "state")) && copy_str(v, p->state, sizeof(p->state)))
		return -EINVAL;
	ns = json_object_get(o, "netns");
	if (!json_is_object(ns))
		return 0;
	if ((v = json_object_get(ns, "inode"))) {
		if (!json_is_integer(v))
			return -EINVAL;
		p->inode = (uint64_t)json_integer_value(v);
	}
	if ((v = json_object_get(ns, "dev")) && copy_str(v, p->dev, sizeof(p->dev)))
		return -EINVAL;
	return 0;
}

/* The pod's entry in .emulator.certificates (uid, identity, expiry), if any. */
static void read_cert(const json_t *certs, struct dump_pod *p)
{
	const json_t *c, *v;
	size_t i;

	for (i = 0; i < json_array_size(certs); i++) {
		c = json_array_get(certs, i);
		v = json_object_get(c, "uid");
		if (!json_is_string(v) || strcmp(json_string_value(v), p->uid))
			continue;
		copy_str(json_object_get(c, "identity"), p->identity, sizeof(p->identity));
		copy_str(json_object_get(c, "expiry"), p->cert_expiry, sizeof(p->cert_expiry));
		return;
	}
}

/* .emulator.config: its pid (a non-negative integer) and profile (a string); anything else is ignored. */
static void read_config(const json_t *c, struct dump_config *cfg)
{
	const json_t *v;

	if (!json_is_object(c))
		return;
	v = json_object_get(c, "pid");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		cfg->pid = (long)json_integer_value(v);
	v = json_object_get(c, "profile");
	if (json_is_string(v))
		copy_str(v, cfg->profile, sizeof(cfg->profile));
}

int dump_scan(const char *body, struct dump_config *cfg,
	      int (*cb)(const struct dump_pod *p, void *arg), void *arg)
{
	struct dump_config ignored;
	struct dump_pod p;
	json_t *root, *emu, *pods;
	json_error_t jerr;
	bool stop = false;
	size_t i;
	int ret = 0;

	if (!cfg)
		cfg = &ignored;
	memset(cfg, 0, sizeof(*cfg));
	/* a pod uid may hold U+0000 (ZDS allows it): read up to it, as C strings do */
	root = json_loads(body, JSON_ALLOW_NUL, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	/* the emulator's own facts, beside ztunnel's keys (workloads, workloadState...) */
	emu = json_object_get(root, "emulator");
	read_config(json_object_get(emu, "config"), cfg);
	pods = json_object_get(emu, "pods");
	if (pods && !json_is_array(pods))
		ret = -EINVAL;
	for (i = 0; !ret && i < json_array_size(pods); i++) {
		ret = read_pod(json_array_get(pods, i), &p);
		if (!ret)
			read_cert(json_object_get(emu, "certificates"), &p);
		if (!ret && !stop && cb)
			stop = cb(&p, arg) != 0;
	}
	json_decref(root);
	return ret;
}

struct find_ctx {
	char dev[32];
	uint64_t ino;
	bool *found;
	struct dump_pod *match;
	size_t *npods;
};

static int find_cb(const struct dump_pod *p, void *arg)
{
	struct find_ctx *f = arg;

	++*f->npods;
	if (!*f->found && p->inode == f->ino && (!p->dev[0] || !strcmp(p->dev, f->dev))) {
		*f->found = true;
		*f->match = *p;
	}
	return 0;
}

int dump_find_pod(const char *body, const struct netns_id *id, bool *found,
		  struct dump_pod *match, size_t *npods)
{
	struct find_ctx f = { .ino = (uint64_t)id->ino, .found = found, .match = match,
			      .npods = npods };

	*found = false;
	*npods = 0;
	snprintf(f.dev, sizeof(f.dev), "%u:%u", major(id->dev), minor(id->dev));
	return dump_scan(body, NULL, find_cb, &f);
}

/* ---- finding the daemon's admin endpoint from its pid ------------------------------ */

/* The caller's netns may have many listeners; the daemon's are a few of them. */
#define MAX_LISTENERS 4096

struct listen_ctx {
	struct sd_sock *v;
	size_t n;
};

static int listen_cb(const struct sd_sock *s, void *data)
{
	struct listen_ctx *c = data;

	if (c->n < MAX_LISTENERS)
		c->v[c->n++] = *s;
	return 0;
}

/* GET /config_dump from a listening address (a wildcard is asked on loopback): 0 when pid answers. */
static int try_admin(const struct sockaddr_storage *ss, pid_t pid, int timeout_ms, struct url *u,
		     char **body)
{
	struct dump_config cfg;
	char host[64], a[INET6_ADDRSTRLEN], text[128], err[256], *b = NULL;
	unsigned int port;
	int status;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		port = ntohs(sin->sin_port);
		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			snprintf(host, sizeof(host), "127.0.0.1");
		else
			inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			snprintf(a, sizeof(a), "::1");
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(host, sizeof(host), "[%s]", a);
	}
	snprintf(text, sizeof(text), "http://%s:%u/config_dump", host, port);
	if (dump_parse_url(text, u) || dump_http_get(u, timeout_ms, &status, &b, err, sizeof(err)))
		return -ENOENT;
	if (status != 200 || dump_scan(b, &cfg, NULL, NULL) || cfg.pid != (long)pid) {
		free(b);
		return -ENOENT;
	}
	if (body)
		*body = b;
	else
		free(b);
	return 0;
}

/* The listener of c whose inode fd NAME of the daemon (under dir) is, or NULL. */
static const struct sd_sock *listener_of(int dir, const char *name, const struct listen_ctx *c)
{
	char link[64], *end;
	unsigned long ino;
	ssize_t len = readlinkat(dir, name, link, sizeof(link) - 1);
	size_t i;

	if (len < 9)
		return NULL;
	link[len] = '\0';
	if (strncmp(link, "socket:[", 8))
		return NULL;
	ino = strtoul(link + 8, &end, 10);
	for (i = 0; i < c->n; i++)
		if (c->v[i].inode == ino && *end == ']')
			return &c->v[i];
	return NULL;
}

/*
 * The daemon's listeners are the TCP listeners of the caller's netns whose
 * inode is one of pid's fds. Its HTTP sockets are opened at start, so its
 * low fds come first: the scan stops at the first that answers. With
 * max_fds, the fds are asked for by number: listing /proc/PID/fd makes the
 * kernel build an entry for each of them (20,000 on a full node).
 */
static int scan_fds(pid_t pid, int max_fds, const struct listen_ctx *c, int timeout_ms,
		    struct url *u, char **body)
{
	const struct sd_sock *s;
	char path[64], name[16];
	struct dirent *e;
	int fd, ret = -ENOENT;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);	/* another user's daemon: not ours to read */
	if (!d)
		return -ENOENT;
	for (fd = 0; max_fds > 0 && fd < max_fds && ret; fd++) {
		snprintf(name, sizeof(name), "%d", fd);
		if ((s = listener_of(dirfd(d), name, c)))
			ret = try_admin(&s->local, pid, timeout_ms, u, body);
	}
	while (max_fds <= 0 && ret && (e = readdir(d)))
		if ((s = listener_of(dirfd(d), e->d_name, c)))
			ret = try_admin(&s->local, pid, timeout_ms, u, body);
	closedir(d);
	return ret;
}

int dump_find_admin(pid_t pid, int max_fds, int timeout_ms, struct url *u, char **body)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct listen_ctx c = { NULL, 0 };
	struct mnl_socket *nl;
	size_t i;
	int ret = -ENOENT;

	if (body)
		*body = NULL;
	if (pid <= 0)
		return -ESRCH;
	c.v = calloc(MAX_LISTENERS, sizeof(*c.v));
	nl = c.v ? sd_open() : NULL;
	if (!nl) {
		free(c.v);
		return -ENOMEM;
	}
	for (i = 0; i < 2; i++)
		sd_dump(nl, families[i], IPPROTO_TCP, 1u << TCP_LISTEN, listen_cb, &c);
	mnl_socket_close(nl);
	if (c.n)
		ret = scan_fds(pid, max_fds, &c, timeout_ms, u, body);
	free(c.v);
	return ret;
}

struct uid_ctx {
	const char *const *uids;
	size_t n;
	FILE *out;
	size_t count;
};

static int uid_cb(const struct dump_pod *p, void *arg)
{
	struct uid_ctx *c = arg;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->uids[i], p->uid))
			return 0;
	if (c->out) {
		char q[1100];

		fprintf(c->out, "%s%s", c->count ? ", " : "", log_quote(q, sizeof(q), p->uid,
									 strlen(p->uid)));
	}
	c->count++;
	return 0;
}

int dump_has_uid(const char *body, const char *uid)
{
	ssize_t others = dump_other_pods(body, &uid, 1, NULL), all = dump_other_pods(body, NULL, 0,
										       NULL);

	if (others < 0 || all < 0)
		return -EINVAL;
	return others < all;
}

ssize_t dump_other_pods(const char *body, const char *const *uids, size_t n, FILE *out)
{
	struct uid_ctx c = { .uids = uids, .n = n, .out = out };

	if (dump_scan(body, NULL, uid_cb, &c))
		return -EINVAL;
	return (ssize_t)c.count;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's options: defaults, the command line, and the profiles turned
 * into listener specs (the --help text: usage.c). Never prints or exits (main reports
 * what config_parse() returns); never touches the running daemon.
 * Interface: config.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"


#define T_INBOUND "ztunnel::proxy::inbound"
#define T_PLAIN "ztunnel::proxy::inbound_passthrough"
#define T_OUTBOUND "ztunnel::proxy::outbound"
#define T_DNS "ztunnel::dns::server"
#define T_SOCKS "ztunnel::proxy::socks5"

/* long-only options (faults.md 5), clear of the short letters */
enum { OPT_MAX_RELAYS = 0x500, OPT_MAX_RELAYS_POD, OPT_RELAY_IDLE, OPT_RELAY_CONNECT,
	OPT_CONNECT, OPT_PROTOCOL_ERRORS, OPT_DRAIN_DEADLINE };
/* the release and the log (observability.md) */
enum { OPT_ISTIO_VERSION = 0x800, OPT_LOG_LEVEL, OPT_DNS_PROXY };
/* HBONE (hbone.md); 0x600 is the DNS options' range (dns/options.h) */
enum { OPT_CA_DIR = 0x700, OPT_TRUST_DOMAIN, OPT_NO_HBONE_OUT };
/* the relay threads */
enum { OPT_RELAY_THREADS = 0xb00 };

static const struct option opts[] = {
	{ "listen-address", required_argument, NULL, 'a' },
	{ "no-port-reuse", no_argument, NULL, 'R' },
	{ "timeout", required_argument, NULL, 't' },
	{ "retry-interval", required_argument, NULL, 'r' },
	{ "log-format", required_argument, NULL, 'L' },
	{ "admin-addr", required_argument, NULL, 'A' },
	{ "ready-addr", required_argument, NULL, 'Y' },
	{ "metrics-addr", required_argument, NULL, 'M' },
	{ "profile", required_argument, NULL, 'p' },
	{ "socks5", no_argument, NULL, 'S' },
	{ "mark", required_argument, NULL, 'k' },
	{ "socket-mode", required_argument, NULL, 'O' },
	{ "socket-group", required_argument, NULL, 'G' },
	{ "insecure-socket-dir", no_argument, NULL, 'D' },
	{ "recreate-socket", no_argument, NULL, 'E' },
	{ "no-recreate-socket", no_argument, NULL, 'e' },
	{ "allow-uid", required_argument, NULL, 'U' },
	{ "allow-gid", required_argument, NULL, 'I' },
	{ "allow-host-netns", no_argument, NULL, 'H' },
	{ "max-connections", required_argument, NULL, 'C' },
	{ "max-pods", required_argument, NULL, 'P' },
	{ "max-relays", required_argument, NULL, OPT_MAX_RELAYS },
	{ "max-relays-per-pod", required_argument, NULL, OPT_MAX_RELAYS_POD },
	{ "relay-idle-timeout", required_argument, NULL, OPT_RELAY_IDLE },
	{ "relay-connect-timeout", required_argument, NULL, OPT_RELAY_CONNECT },
	{ "relay-threads", required_argument, NULL, OPT_RELAY_THREADS },
	{ "registry", required_argument, NULL, OPT_DNS_REGISTRY },
	{ "dns-upstream", required_argument, NULL, OPT_DNS_UPSTREAM },
	{ "dns-timeout", required_argument, NULL, OPT_DNS_TIMEOUT },
	{ "cluster-domain", required_argument, NULL, OPT_DNS_DOMAIN },
	{ "dns-forward-netns", required_argument, NULL, OPT_DNS_FWD_NETNS },
	{ "connect", optional_argument, NULL, OPT_CONNECT },
	{ "protocol-errors", required_argument, NULL, OPT_PROTOCOL_ERRORS },
	{ "drain-deadline", required_argument, NULL, OPT_DRAIN_DEADLINE },
	{ "ca-dir", required_argument, NULL, OPT_CA_DIR },
	{ "trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN },
	{ "no-hbone-outbound", no_argument, NULL, OPT_NO_HBONE_OUT },
	{ "istio-version", required_argument, NULL, OPT_ISTIO_VERSION },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "dns-proxy", required_argument, NULL, OPT_DNS_PROXY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* What the options say before they are checked against each other. */
struct raw_opts {
	const char *addr, *admin, *ready, *metrics;
	const char *connect_path, *protocol_errors;
	const char *log_format, *dns_proxy;
	bool dns_fwd_given;	/* --dns-forward-netns, else the release's */
	bool drain_deadline_set;
	long mark;		/* -1: the profile's */
};

/* A whole number in base, min..max: 0, or -EINVAL with e saying why. */
static int parse_number(const char *what, const char *s, int base, unsigned long min,
			unsigned long max, unsigned long *v, struct ze_err *e)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, base);
	if (errno || end == s || *end || *s == '-' || *v < min || *v > max)
		return ze_fail(e, -EINVAL, "invalid %s '%s'", what, s);
	return 0;
}

/* A user or group id: the one its name has (named), else a number. */
static int parse_id(const char *what, const char *s, const unsigned *named, unsigned *id,
		    struct ze_err *e)
{
	unsigned long v;
	int ret;

	if (named) {
		*id = *named;
		return 0;
	}
	ret = parse_number(what, s, 10, 0, 0x7fffffff, &v, e);
	*id = (unsigned)v;
	return ret;
}

static int parse_user(const char *s, uid_t *uid, struct ze_err *e)
{
	struct passwd *pw = getpwnam(s);

	return parse_id("user (name or uid)", s, pw ? &pw->pw_uid : NULL, uid, e);
}

static int parse_group(const char *s, gid_t *gid, struct ze_err *e)
{
	struct group *gr = getgrnam(s);

	return parse_id("group (name or gid)", s, gr ? &gr->gr_gid : NULL, gid, e);
}

/* A count option into *out (size_t). */
static int parse_count(const char *what, const char *s, unsigned long max, size_t *out,
		       struct ze_err *e)
{
	unsigned long v;
	int ret = parse_number(what, s, 10, 1, max, &v, e);

	if (!ret)
		*out = (size_t)v;
	return ret;
}

/* --relay-threads: 0 (the main loop) to 256. */
static int parse_threads(const char *s, int *out, struct ze_err *e)
{
	unsigned long v;
	int ret = parse_number("--relay-threads", s, 10, 0, 256, &v, e);

	if (ret)
		return ze_fail(e, ret, "invalid --relay-threads '%s': expected 0 to 256", s);
	*out = (int)v;
	return 0;
}

/* "HOST:PORT" or "none" (disabled): 0 or -EINVAL. */
static int parse_http_addr(const char *text, struct http_addr *a)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = text;
	size_t hl;
	char *end;
	long port;

	memset(a, 0, sizeof(*a));
	if (!strcmp(text, "none"))
		return 0;
	if (*text == '[') {
		/* [v6]:port */
		colon = strstr(text, "]:");
		if (!colon)
			return -EINVAL;
		h = text + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - text);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&a->sa)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		a->family = AF_INET;
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&a->sa)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a->family = AF_INET6;
	} else {
		return -EINVAL;
	}
	snprintf(a->text, sizeof(a->text), "%s", text);
	a->enabled = true;
	return 0;
}

static void add_spec(struct config *cfg, int family, const char *addr, uint16_t port, int socktype,
		     enum listener_role role, const char *component, const char *target, bool optional)
{
	struct listener_spec *s = &cfg->specs[cfg->nspecs++];
	char text[INET6_ADDRSTRLEN];

	s->family = family;
	inet_pton(family, addr, &s->addr);
	inet_ntop(family, &s->addr, text, sizeof(text));
	/* only a v4-mapped --listen-address could be cut short, and only in the log */
	if (snprintf(s->addr_text, sizeof(s->addr_text), family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		     text, port) >= (int)sizeof(s->addr_text))
		s->addr_text[sizeof(s->addr_text) - 1] = '\0';
	s->port = port;
	s->socktype = socktype;
	s->role = role;
	s->component = component;
	s->target = target;
	s->optional = optional;
}

static void add_dns_specs(struct config *cfg)
{
	add_spec(cfg, AF_INET, "127.0.0.1", 15053, SOCK_STREAM, ROLE_DNS, "dns tcp", T_DNS, false);
	add_spec(cfg, AF_INET, "127.0.0.1", 15053, SOCK_DGRAM, ROLE_DNS, "dns udp", T_DNS, false);
	add_spec(cfg, AF_INET6, "::1", 15053, SOCK_STREAM, ROLE_DNS, "dns tcp", T_DNS, true);
	add_spec(cfg, AF_INET6, "::1", 15053, SOCK_DGRAM, ROLE_DNS, "dns udp", T_DNS, true);
}

/* The listeners of each profile, in ztunnel's order. */
static void build_profile(struct config *cfg)
{
	cfg->nspecs = 0;
	if (cfg->profile == PROFILE_WALKTHRU) {
		/* seeds/001: 127.0.0.1 by default; Go's listen backlog (somaxconn) shows in ss */
		cfg->backlog = 4096;
		add_spec(cfg, cfg->family, cfg->addr_text, 15008, SOCK_STREAM, ROLE_HBONE, "inbound",
			 T_INBOUND, false);
		add_spec(cfg, cfg->family, cfg->addr_text, 15006, SOCK_STREAM, ROLE_PLAINTEXT,
			 "inbound plaintext", T_PLAIN, false);
		add_spec(cfg, cfg->family, cfg->addr_text, 15001, SOCK_STREAM, ROLE_OUTBOUND, "outbound",
			 T_OUTBOUND, false);
		return;
	}
	/* real ztunnel: DNS first (IPv6 only when the pod has it), then dual-stack proxies */
	cfg->backlog = 128;
	if (cfg->dns_proxy)
		add_dns_specs(cfg);
	add_spec(cfg, AF_INET6, "::", 15008, SOCK_STREAM, ROLE_HBONE, "inbound", T_INBOUND, false);
	add_spec(cfg, AF_INET6, "::", 15006, SOCK_STREAM, ROLE_PLAINTEXT, "inbound plaintext", T_PLAIN,
		 false);
	add_spec(cfg, AF_INET6, "::", 15001, SOCK_STREAM, ROLE_OUTBOUND, "outbound", T_OUTBOUND, false);
	if (cfg->socks5)
		add_spec(cfg, AF_INET, "127.0.0.1", 15080, SOCK_STREAM, ROLE_SOCKS5, "socks5", T_SOCKS,
			 false);
}

static void set_defaults(struct config *cfg, struct raw_opts *raw)
{
	cfg->socket_path = DEFAULT_SOCKET;
	cfg->port_reuse = true;
	cfg->timeout = 5;
	cfg->retry_interval = 5;
	cfg->socket_mode = 0600;
	cfg->socket_gid = (gid_t)-1;
	cfg->recreate_socket = true;
	cfg->max_conns = 64;
	cfg->max_pods = 10000;
	cfg->max_relays_per_pod = 1024;
	cfg->relay_idle_timeout = 3600;	/* ztunnel's pool keeps an idle connection an hour */
	cfg->relay_connect_timeout = 10;
	cfg->relay_threads = -1;	/* one per online CPU */
	cfg->ca_dir = DEFAULT_CA_DIR;
	cfg->trust_domain = "cluster.local";
	cfg->hbone_outbound = true;
	raw->addr = NULL;
	raw->connect_path = raw->protocol_errors = NULL;
	raw->log_format = raw->dns_proxy = NULL;
	raw->dns_fwd_given = false;
	cfg->rel = release_default();
	raw->drain_deadline_set = false;
	raw->admin = "127.0.0.1:15000";
	raw->ready = "127.0.0.1:15021";
	raw->metrics = "127.0.0.1:15020";
	raw->mark = -1;
	dns_opts_defaults(&cfg->dns);
}

/* Istio's roles and the drain: 0 or -EINVAL. */
static int parse_role_option(int c, const char *arg, struct config *cfg, struct raw_opts *raw,
			     struct ze_err *e)
{
	switch (c) {
	case OPT_CONNECT:
		cfg->connect = true;
		raw->connect_path = arg;
		return 0;
	case OPT_PROTOCOL_ERRORS:
		if (strcmp(arg, "exit") && strcmp(arg, "close"))
			return ze_fail(e, -EINVAL, "invalid --protocol-errors '%s': expected exit or close",
					  arg);
		raw->protocol_errors = arg;
		return 0;
	case OPT_DRAIN_DEADLINE:
		raw->drain_deadline_set = true;
		return cli_seconds("drain deadline", arg, &cfg->drain_deadline, e);
	case OPT_ISTIO_VERSION:
		cfg->rel = release_parse(arg, e);
		return cfg->rel ? 0 : -EINVAL;
	case OPT_LOG_LEVEL:
		cfg->log_level = arg;
		return 0;
	case OPT_DNS_PROXY:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return ze_fail(e, -EINVAL, "invalid --dns-proxy '%s': expected on or off", arg);
		raw->dns_proxy = arg;
		return 0;
	}
	/* getopt printed what was wrong */
	return ze_fail(e, -EINVAL, "%s", "");
}

/* Who may talk to the daemon, and how much: 0 or -EINVAL. */
static int parse_admission_option(int c, const char *arg, struct config *cfg,
				  struct raw_opts *raw, struct ze_err *e)
{
	unsigned long v;
	int ret;

	switch (c) {
	case 'O':
		ret = parse_number("socket mode", arg, 8, 0, 0777, &v, e);
		cfg->socket_mode = (mode_t)v;
		return ret;
	case 'G':
		return parse_group(arg, &cfg->socket_gid, e);
	case 'D':
		cfg->insecure_socket_dir = true;
		return 0;
	case 'E':
	case 'e':
		cfg->recreate_socket = c == 'E';
		return 0;
	case 'U':
		if (cfg->n_allow_uids == sizeof(cfg->allow_uids) / sizeof(cfg->allow_uids[0]))
			return ze_fail(e, -EINVAL, "too many --allow-uid");
		return parse_user(arg, &cfg->allow_uids[cfg->n_allow_uids++], e);
	case 'I':
		if (cfg->n_allow_gids == sizeof(cfg->allow_gids) / sizeof(cfg->allow_gids[0]))
			return ze_fail(e, -EINVAL, "too many --allow-gid");
		return parse_group(arg, &cfg->allow_gids[cfg->n_allow_gids++], e);
	case 'H':
		cfg->allow_host_netns = true;
		return 0;
	case 'C':
		return parse_count("--max-connections", arg, 100000, &cfg->max_conns, e);
	case 'P':
		return parse_count("--max-pods", arg, 10000000, &cfg->max_pods, e);
	case OPT_MAX_RELAYS:
		return parse_count("--max-relays", arg, 10000000, &cfg->max_relays, e);
	case OPT_MAX_RELAYS_POD:
		return parse_count("--max-relays-per-pod", arg, 10000000, &cfg->max_relays_per_pod, e);
	case OPT_RELAY_IDLE:
		return cli_seconds("relay idle timeout", arg, &cfg->relay_idle_timeout, e);
	case OPT_RELAY_CONNECT:
		return cli_seconds("relay connect timeout", arg, &cfg->relay_connect_timeout, e);
	case OPT_RELAY_THREADS:
		return parse_threads(arg, &cfg->relay_threads, e);
	case OPT_CA_DIR:
		if (!*arg)
			return ze_fail(e, -EINVAL, "empty --ca-dir");
		cfg->ca_dir = arg;
		return 0;
	case OPT_TRUST_DOMAIN:
		/* a SPIFFE trust domain: lowercase letters, digits, '.', '-', '_' */
		if (!*arg || strlen(arg) > 255 ||
		    strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(arg))
			return ze_fail(e, -EINVAL,
				       "invalid --trust-domain '%s': expected lowercase letters, digits, '.', '-', '_'",
				       arg);
		cfg->trust_domain = arg;
		return 0;
	case OPT_NO_HBONE_OUT:
		cfg->hbone_outbound = false;
		return 0;
	}
	return parse_role_option(c, arg, cfg, raw, e);
}

/* One option: 0, CONFIG_HELP, CONFIG_VERSION, or -EINVAL. */
static int parse_option(int c, const char *arg, struct config *cfg, struct raw_opts *raw,
			struct ze_err *e)
{
	unsigned long v;
	int ret;

	switch (c) {
	case 'a':
		raw->addr = arg;
		return 0;
	case 'R':
		cfg->port_reuse = false;
		return 0;
	case 't':
		return cli_seconds("timeout", arg, &cfg->timeout, e);
	case 'r':
		return cli_seconds("retry interval", arg, &cfg->retry_interval, e);
	case 'L':
		if (strcmp(arg, "legacy") && strcmp(arg, "current"))
			return ze_fail(e, -EINVAL, "invalid log format '%s': expected legacy or current",
					  arg);
		raw->log_format = arg;
		return 0;
	case 'A':
		raw->admin = arg;
		return 0;
	case 'Y':
		raw->ready = arg;
		return 0;
	case 'M':
		raw->metrics = arg;
		return 0;
	case 'p':
		if (!strcmp(arg, "walkthru"))
			cfg->profile = PROFILE_WALKTHRU;
		else if (!strcmp(arg, "ambient"))
			cfg->profile = PROFILE_AMBIENT;
		else
			return ze_fail(e, -EINVAL, "invalid profile '%s': expected walkthru or ambient",
					  arg);
		return 0;
	case 'S':
		cfg->socks5 = true;
		return 0;
	case 'k':
		ret = parse_number("--mark", arg, 0, 0, 0xffffffff, &v, e);
		raw->mark = (long)v;
		return ret;
	case 'h':
		return CONFIG_HELP;
	case OPT_DNS_REGISTRY:
	case OPT_DNS_UPSTREAM:
	case OPT_DNS_TIMEOUT:
	case OPT_DNS_DOMAIN:
	case OPT_DNS_FWD_NETNS:
		raw->dns_fwd_given |= c == OPT_DNS_FWD_NETNS;
		return dns_opts_parse(c, arg, &cfg->dns, e);
	case 'V':
		return CONFIG_VERSION;
	}
	return parse_admission_option(c, arg, cfg, raw, e);
}

/* What the release sets unless an option said otherwise (release.h). */
static void finish_release(struct config *cfg, const struct raw_opts *raw)
{
	const char *env = getenv("RUST_LOG");

	cfg->lines = !raw->log_format ? cfg->rel :
		     !strcmp(raw->log_format, "legacy") ? release_oldest() : release_default();
	cfg->log_format = cfg->lines->new_texts ? LOG_FORMAT_CURRENT : LOG_FORMAT_LEGACY;
	if (!cfg->log_level)
		cfg->log_level = env && *env ? env : "info";
	cfg->dns_proxy = raw->dns_proxy ? !strcmp(raw->dns_proxy, "on") : cfg->rel->dns_proxy;
	if (!raw->dns_fwd_given)
		cfg->dns.from_daemon = !cfg->rel->dns_from_pod;
}

/* The options against each other, and what follows from them: 0 or -EINVAL. */
static int finish(struct config *cfg, const struct raw_opts *raw, struct ze_err *e)
{
	const char *addr = raw->addr;

	if (addr && cfg->profile == PROFILE_AMBIENT)
		return ze_fail(e, -EINVAL,
				  "--listen-address is for the walkthru profile: ambient binds ztunnel's own addresses");
	if (!addr)
		addr = "127.0.0.1";
	if (cfg->socks5 && cfg->profile != PROFILE_AMBIENT)
		return ze_fail(e, -EINVAL, "--socks5 needs --profile ambient");
	/* ztunnel marks every socket 1337 (0x539) so the in-pod rules let it through */
	cfg->mark = raw->mark >= 0 ? (uint32_t)raw->mark : cfg->profile == PROFILE_AMBIENT ? 1337 : 0;
	cfg->transparent = cfg->confirm = cfg->relay = cfg->profile == PROFILE_AMBIENT;
	if (inet_pton(AF_INET, addr, &cfg->addr.v4) == 1)
		cfg->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &cfg->addr.v6) == 1)
		cfg->family = AF_INET6;
	else
		return ze_fail(e, -EINVAL,
				  "invalid listen address '%s': expected an IPv4 or IPv6 literal", addr);
	inet_ntop(cfg->family, &cfg->addr, cfg->addr_text, sizeof(cfg->addr_text));
	if (parse_http_addr(raw->admin, &cfg->admin) < 0)
		return ze_fail(e, -EINVAL, "invalid --admin-addr '%s': expected HOST:PORT or none",
				  raw->admin);
	if (parse_http_addr(raw->ready, &cfg->ready) < 0)
		return ze_fail(e, -EINVAL, "invalid --ready-addr '%s': expected HOST:PORT or none",
				  raw->ready);
	if (parse_http_addr(raw->metrics, &cfg->metrics) < 0)
		return ze_fail(e, -EINVAL, "invalid --metrics-addr '%s': expected HOST:PORT or none",
				  raw->metrics);
	finish_release(cfg, raw);
	if (raw->dns_proxy && cfg->profile != PROFILE_AMBIENT)
		return ze_fail(e, -EINVAL, "--dns-proxy needs --profile ambient");
	cfg->loopback = cfg->profile == PROFILE_WALKTHRU &&
			(cfg->family == AF_INET ? (ntohl(cfg->addr.v4.s_addr) >> 24) == 127 :
						  IN6_IS_ADDR_LOOPBACK(&cfg->addr.v6));
	build_profile(cfg);
	return dns_opts_finish(&cfg->dns, "/etc/resolv.conf", e);
}

/*
 * ztunnel's drain deadline from TERMINATION_GRACE_PERIOD_SECONDS g: g - 5 s
 * when g > 10, else g - 1 s, never below 1 s; 5 s without it (roles.md 4).
 */
static int default_drain_deadline(double *out, struct ze_err *e)
{
	const char *g = getenv("TERMINATION_GRACE_PERIOD_SECONDS");
	unsigned long v;

	*out = 5;
	if (!g || !*g)
		return 0;
	if (parse_number("TERMINATION_GRACE_PERIOD_SECONDS", g, 10, 0, 100000000, &v, e))
		return -EINVAL;
	*out = v > 10 ? (double)v - 5 : (double)v - 1;
	if (*out < 1)
		*out = 1;
	return 0;
}

/* The role: where the socket is, and what a protocol error does. 0 or -EINVAL. */
static int finish_role(struct config *cfg, const struct raw_opts *raw, const char *arg,
		       struct ze_err *e)
{
	const char *env = getenv("INPOD_UDS");

	if (!raw->drain_deadline_set && default_drain_deadline(&cfg->drain_deadline, e))
		return -EINVAL;
	if (raw->protocol_errors && !cfg->connect)
		return ze_fail(e, -EINVAL,
				  "--protocol-errors needs --connect (the listening role always closes only the connection)");
	cfg->protocol_errors_exit = raw->protocol_errors ? !strcmp(raw->protocol_errors, "exit") :
				    cfg->rel->protocol_errors_exit;
	if (!cfg->connect) {
		if (arg)
			cfg->socket_path = arg;
		return 0;
	}
	if (raw->connect_path && arg)
		return ze_fail(e, -EINVAL, "too many arguments: --connect=%s and %s", raw->connect_path, arg);
	/* ztunnel's INPOD_UDS, else its fixed default */
	cfg->socket_path = raw->connect_path ? raw->connect_path : arg ? arg :
			   env && *env ? env : DEFAULT_SOCKET;
	return 0;
}

int config_parse(int argc, char **argv, struct config *cfg, struct ze_err *e)
{
	struct raw_opts raw;
	int c, ret;

	set_defaults(cfg, &raw);
	while ((c = getopt_long(argc, argv, "a:p:t:r:hV", opts, NULL)) != -1) {
		ret = parse_option(c, optarg, cfg, &raw, e);
		if (ret)
			return ret;
	}
	if (argc - optind > 1)
		return ze_fail(e, -EINVAL, "too many arguments");
	ret = finish_role(cfg, &raw, optind < argc ? argv[optind] : NULL, e);
	if (ret)
		return ret;
	if (!*cfg->socket_path)
		return ze_fail(e, -EINVAL, "empty socket path");
	return finish(cfg, &raw, e);
}

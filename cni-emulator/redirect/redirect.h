/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_REDIRECT_H
#define CNI_REDIRECT_H

/*
 * istio-cni's in-pod traffic redirection (shared/reference/inpod-rules.md):
 * the ISTIO_* iptables chains, applied with `iptables-restore --noflush` by a
 * child that setns()es into the pod's netns, and the policy routing that
 * delivers marked packets locally, through rtnetlink (libmnl) on a socket
 * created inside the netns. IPv4, and its IPv6 twin (ip6tables, ip -6 rule,
 * local ::/0) when the pod has IPv6 on lo.
 *
 * Every function returns 0 or -errno and, where it takes one, writes a one-line
 * reason into err (never printed here). A tool that ran but failed gives -EIO
 * with its own stderr in err, e.g. "iptables-restore: line 2 failed: ...".
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The constants istio-cni uses in the pod (ztunnel's mark 1337 = 0x539). */
#define RD_ZTUNNEL_MARK 0x539
#define RD_CONNMARK 0x111
#define RD_MASK 0xfff
#define RD_RULE_PRIORITY 32764
#define RD_ROUTE_TABLE 100
/* istio-cni's host probe SNAT sources (HOST_PROBE_SNAT_IP, HOST_PROBE_SNAT_IPV6) */
#define RD_SNAT4 "169.254.7.127"
#define RD_SNAT6 "fd16:9254:7127:1337:ffff:ffff:ffff:ffff"

/* Which iptables: iptables / iptables-save (IPv4) or ip6tables / ip6tables-save. */
enum rd_family {
	RD_IPV4,
	RD_IPV6,
};

enum rd_variant {
	RD_TPROXY,	/* Istio 1.21-1.23: TPROXY inbound (mangle), REDIRECT outbound (nat) */
	RD_REDIRECT,	/* Istio >= 1.24: REDIRECT both ways (nat), DNS conntrack zone (raw) */
};

/*
 * Where the rules go, chosen once at start (rd_set_backend(), default
 * iptables): ISTIO_* chains through iptables-restore, or istio-cni's native
 * nftables ruleset (>= 1.28: tables inet istio-ambient-{nat,mangle,raw})
 * through `nft -f -`. rd_read, rd_identify, rd_apply, rd_undo and rd_remove
 * act on that backend; policy routing is the same for both.
 */
enum rd_backend_kind { RD_IPTABLES, RD_NFTABLES };

const char *rd_backend_name(enum rd_backend_kind b);
/* "iptables" / "nftables": 0, or -EINVAL. */
int rd_backend_parse(const char *s, enum rd_backend_kind *b);
void rd_set_backend(enum rd_backend_kind b);
enum rd_backend_kind rd_get_backend(void);

const char *rd_variant_name(enum rd_variant v);
/* "tproxy" / "redirect": 0, or -EINVAL. */
int rd_variant_parse(const char *s, enum rd_variant *v);

/*
 * The tools run from /usr/sbin, /sbin, /usr/bin or /bin only (never $PATH),
 * with a fixed minimal environment. rd_set_tool("iptables-restore", PATH)
 * names another, absolute PATH: 0, -EINVAL (not absolute, or another tool),
 * or access()'s -errno.
 */
int rd_set_tool(const char *tool, const char *path);

/* The iptables-restore input of a variant: its length, or -ENOBUFS. */
int rd_rules_text(enum rd_variant v, bool dns_capture, char *buf, size_t cap);
/* The same for a family: IPv6 has ::1/128 and RD_SNAT6 where IPv4 has 127.0.0.1/32 and RD_SNAT4. */
int rd_rules_text_family(enum rd_variant v, enum rd_family f, bool dns_capture, char *buf,
			 size_t cap);

/*
 * A rule ("-A CHAIN ...") in a form that compares equal however iptables-save
 * prints it: its options sorted, implicit "-m tcp"/"-m udp" and TPROXY's
 * default "--on-ip" dropped, "--to-port" as "--to-ports", host addresses with
 * their /32 or /128, and the loopback and SNAT addresses of either family as
 * the IPv4 ones. Its length (>= cap: truncated).
 */
size_t rd_rule_norm(const char *rule, char *out, size_t cap);

/*
 * One ISTIO-related line of `iptables-save -c` in a netns: the declaration of
 * an ISTIO_* chain (rule NULL), a rule in one, or a jump to one from another
 * chain. rule is "-A CHAIN ..." as iptables-save prints it.
 */
struct rd_entry {
	char table[32];	/* "nat", or "istio-ambient-nat" with nftables */
	char chain[32];
	uint64_t packets, bytes;
	char *rule;
};

struct rd_rules {
	struct rd_entry *e;
	size_t n;
};

/*
 * Reads the ISTIO_* chains of every table in the netns nsfd, with counters
 * (IPv4; nftables: the three istio-ambient tables, see rd_nft_parse()).
 */
int rd_read(int nsfd, struct rd_rules *r, char *err, size_t cap);
/*
 * The same with iptables-save or ip6tables-save; with nftables the inet
 * tables carry both families, so either f reads them.
 */
int rd_read_family(int nsfd, enum rd_family f, struct rd_rules *r, char *err, size_t cap);
void rd_rules_free(struct rd_rules *r);

/* How many ISTIO_* chains r declares (0: none installed). */
size_t rd_chain_count(const struct rd_rules *r);

/*
 * Which variant r (of either family) holds: exactly its chains and rules,
 * compared as rd_rule_norm() text, nothing missing and nothing besides:
 * 0 with *v and *dns_capture set, -ENOENT when r has no ISTIO_* chain,
 * -ENOMSG when the chains match no variant (changed by hand, half removed).
 */
int rd_identify(const struct rd_rules *r, enum rd_variant *v, bool *dns_capture);

/* What is in a netns, or what one call installed or removed. */
struct rd_state {
	bool chains;	/* the ISTIO_* chains */
	bool ip_rule;	/* fwmark 0x111/0xfff pref 32764 lookup 100 */
	bool route;	/* local 0.0.0.0/0 dev lo table 100 */
	bool chains6;	/* the same in ip6tables */
	bool ip_rule6;	/* ip -6 rule fwmark 0x111/0xfff pref 32764 lookup 100 */
	bool route6;	/* local ::/0 dev lo table 100 */
	/*
	 * rd_apply: lo has no IPv6 in the pod, so no IPv6 set was installed
	 * (nftables: no ip -6 rule or route; its inet tables hold IPv6 rules all the same)
	 */
	bool no_ipv6;
};

/* Does s name anything (chains, rule or route of either family)? */
bool rd_state_any(const struct rd_state *s);

/*
 * Does the pod have IPv6 on lo? Read inside the netns, as istio-cni does:
 * /proc/sys/net/ipv6/conf/lo/disable_ipv6. 1 yes, 0 disabled on lo,
 * -ENOENT when the kernel has no IPv6 at all, other -errno.
 */
int rd_has_ipv6(int nsfd);

/*
 * Does the netns hold istio-cni's objects of backend b (iptables: chains of
 * either family; nftables: an istio-ambient table)? 1, 0, or -errno
 * (-ENOENT or -EIO: b's tool is missing or fails, as on a kernel without it).
 */
int rd_installed(int nsfd, enum rd_backend_kind b, char *err, size_t cap);

/*
 * Installs the rules of a variant, the ip rule and the route in the netns,
 * for IPv4 and, when lo has IPv6, IPv6 (else added->no_ipv6), each unless
 * already there (a second apply adds nothing). *added says what
 * this call installed, so that rd_undo() can take back exactly that. On
 * failure nothing this call installed is left behind.
 */
int rd_apply(int nsfd, enum rd_variant v, bool dns_capture, struct rd_state *added, char *err,
	     size_t cap);

/* Removes what *what names (e.g. what rd_apply installed). Absent parts are fine. */
int rd_undo(int nsfd, const struct rd_state *what, char *err, size_t cap);

/*
 * Removes all of it, as istio-cni does when a running pod leaves the mesh:
 * -D the jumps, -F and -X its chains, delete the ip rule and the route, in
 * both families. *removed says what was there. Goes on after a failed
 * step and returns the first error.
 */
int rd_remove(int nsfd, struct rd_state *removed, char *err, size_t cap);

/* Is the link name (e.g. "lo") up in the netns nsfd? 1, 0, or -errno. */
int rd_link_up(int nsfd, const char *name);

/* Policy routing in a netns, as rtnetlink dumps it. */
struct rd_ip_rule {
	uint32_t priority, table, fwmark, fwmask;
	bool has_fwmark;
	uint8_t family;	/* AF_INET or AF_INET6 */
};

struct rd_route {
	uint32_t table, oif, metric;
	uint8_t family, type, scope, protocol, dst_len;
	uint8_t dst[16];
	char dev[16];	/* the name of oif in the netns; "" when none */
};

struct rd_policy {
	struct rd_ip_rule *rules;	/* rules with a fwmark or that look up table 100, IPv4 then IPv6 */
	size_t nrules;
	struct rd_route *routes;	/* routes of table 100, IPv4 then IPv6 */
	size_t nroutes;
};

int rd_policy_read(int nsfd, struct rd_policy *p, char *err, size_t cap);
void rd_policy_free(struct rd_policy *p);

/* As `ip rule` / `ip route show table 100` print them. */
void rd_format_ip_rule(const struct rd_ip_rule *r, char *buf, size_t cap);
void rd_format_route(const struct rd_route *r, char *buf, size_t cap);

#endif

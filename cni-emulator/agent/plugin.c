/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: parsing the control socket's JSON bodies (plugin.h) with jansson.
 * Never touches: the agent's state, sockets, output. Interface: plugin.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "plugin.h"
#include "err.h"

/* Copies the string member key of o into out: 1 copied, 0 absent (or null), -EINVAL. */
static int get_str(json_t *o, const char *key, char *out, size_t cap, char *why, size_t wcap)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ze_reason(why, wcap, -EINVAL, "%s: expected a string", key);
	s = json_string_value(v);
	if (!*s)
		return ze_reason(why, wcap, -EINVAL, "%s: empty", key);
	if (json_string_length(v) >= cap || strlen(s) != json_string_length(v))
		return ze_reason(why, wcap, -EINVAL, "%s: too long or holds a NUL byte", key);
	memcpy(out, s, json_string_length(v) + 1);
	return 1;
}

static int need_str(json_t *o, const char *key, char *out, size_t cap, char *why, size_t wcap)
{
	int ret = get_str(o, key, out, cap, why, wcap);

	if (ret == 0)
		return ze_reason(why, wcap, -EINVAL, "%s: missing", key);
	return ret < 0 ? ret : 0;
}

/* Is s standard base64 whose bytes are a netmask's length (4 or 16)? */
static bool mask_ok(const char *s)
{
	size_t len = strlen(s), pad = 0, i;

	if (len == 0 || len % 4)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '=' && i >= len - 2) {
			pad++;
			continue;
		}
		if (pad || !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
				   s[i]) || !s[i])
			return false;
	}
	len = len / 4 * 3 - pad;
	return len == 4 || len == 16;
}

static int copy_ip(const char *s, char *out, char *why, size_t cap)
{
	unsigned char buf[16];

	if (strlen(s) >= AGENT_IP_LEN ||
	    (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1))
		return ze_reason(why, cap, -EINVAL, "IPs: '%.64s' is not an IP address", s);
	strcpy(out, s);
	return 0;
}

/* One entry of IPs: a string, or a CNI IP config {"Address": {"IP", "Mask"}}. */
static int parse_ip(json_t *v, char *out, char *why, size_t cap)
{
	json_t *addr, *ip, *mask;

	if (json_is_string(v))
		return copy_ip(json_string_value(v), out, why, cap);
	addr = json_is_object(v) ? json_object_get(v, "Address") : NULL;
	ip = json_is_object(addr) ? json_object_get(addr, "IP") : NULL;
	if (!json_is_string(ip))
		return ze_reason(why, cap, -EINVAL,
				 "IPs: expected an address string or {\"Address\": {\"IP\": ...}}");
	mask = json_object_get(addr, "Mask");
	if (mask && !json_is_null(mask) && (!json_is_string(mask) || !mask_ok(json_string_value(mask))))
		return ze_reason(why, cap, -EINVAL,
				 "IPs: Address.Mask: expected the base64 of a 4- or 16-byte mask");
	return copy_ip(json_string_value(ip), out, why, cap);
}

static int parse_ips(json_t *o, const char *key, struct plugin_event *ev, char *why, size_t cap)
{
	json_t *arr = json_object_get(o, key), *v;
	size_t i;
	int ret;

	ev->nips = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return ze_reason(why, cap, -EINVAL, "%s: expected a list", key);
	if (json_array_size(arr) > AGENT_MAX_IPS)
		return ze_reason(why, cap, -EINVAL, "%s: more than %d addresses", key, AGENT_MAX_IPS);
	json_array_foreach(arr, i, v) {
		ret = parse_ip(v, ev->ips[i], why, cap);
		if (ret)
			return ret;
		ev->nips++;
	}
	return 0;
}

static json_t *load(const char *body, size_t len, char *why, size_t cap)
{
	json_error_t jerr;
	json_t *o;

	if (len == 0) {
		ze_reason(why, cap, -EINVAL, "empty body");
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		ze_reason(why, cap, -EINVAL, "invalid JSON: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		ze_reason(why, cap, -EINVAL, "expected a JSON object");
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The members a body holds besides its list of IPs: 0 or -EINVAL with why. */
typedef int (*event_fields)(json_t *o, struct plugin_event *ev, char *why, size_t cap);

/* A body as a JSON object: its members read by fields, then its IPs under ips_key. */
static int parse_event(const char *body, size_t len, struct plugin_event *ev, event_fields fields,
		       const char *ips_key, char *why, size_t cap)
{
	json_t *o = load(body, len, why, cap);
	int ret;

	memset(ev, 0, sizeof(*ev));
	if (!o)
		return -EINVAL;
	ret = fields(o, ev, why, cap);
	if (!ret)
		ret = parse_ips(o, ips_key, ev, why, cap);
	json_decref(o);
	return ret;
}

static int cmdadd_fields(json_t *o, struct plugin_event *ev, char *why, size_t cap)
{
	int ret = need_str(o, "Netns", ev->netns, sizeof(ev->netns), why, cap);

	if (!ret)
		ret = need_str(o, "PodName", ev->name, sizeof(ev->name), why, cap);
	if (!ret)
		ret = need_str(o, "PodNamespace", ev->namespace_, sizeof(ev->namespace_), why, cap);
	if (ret)
		return ret;
	/* the lab has no API server to ask for the pod's uid and service account */
	strcpy(ev->uid, ev->name);
	strcpy(ev->service_account, "default");
	return 0;
}

int plugin_parse_cmdadd(const char *body, size_t len, struct plugin_event *ev, char *why,
			size_t cap)
{
	return parse_event(body, len, ev, cmdadd_fields, "IPs", why, cap);
}

/* The netns's base name, the uid add gives a pod by default. */
static int default_uid(struct plugin_event *ev, char *why, size_t cap)
{
	const char *b = strrchr(ev->netns, '/');

	b = b ? b + 1 : ev->netns;
	if (!*b || strlen(b) >= sizeof(ev->uid))
		return ze_reason(why, cap, -EINVAL, "netns: no name to take the uid from");
	memcpy(ev->uid, b, strlen(b) + 1);
	return 0;
}

/* An optional string member, dflt when absent: 0 or -EINVAL. */
static int opt_str(json_t *o, const char *key, char *out, size_t cap, const char *dflt, char *why,
		   size_t wcap)
{
	int ret = get_str(o, key, out, cap, why, wcap);

	if (ret == 0 && dflt)
		snprintf(out, cap, "%s", dflt);
	return ret < 0 ? ret : 0;
}

static int enroll_fields(json_t *o, struct plugin_event *ev, char *why, size_t cap)
{
	int ret = need_str(o, "netns", ev->netns, sizeof(ev->netns), why, cap);

	if (!ret)
		ret = opt_str(o, "uid", ev->uid, sizeof(ev->uid), NULL, why, cap);
	if (!ret && !ev->uid[0])
		ret = default_uid(ev, why, cap);
	if (!ret)
		ret = opt_str(o, "name", ev->name, sizeof(ev->name), ev->uid, why, cap);
	if (!ret)
		ret = opt_str(o, "namespace", ev->namespace_, sizeof(ev->namespace_), "default", why,
			      cap);
	if (!ret)
		ret = opt_str(o, "serviceAccount", ev->service_account, sizeof(ev->service_account),
			      "default", why, cap);
	return ret;
}

int plugin_parse_enroll(const char *body, size_t len, struct plugin_event *ev, char *why,
			size_t cap)
{
	return parse_event(body, len, ev, enroll_fields, "ips", why, cap);
}

int plugin_parse_unenroll(const char *body, size_t len, char *pod, size_t podcap, char *why,
			  size_t cap)
{
	json_t *o = load(body, len, why, cap);
	int ret;

	if (!o)
		return -EINVAL;
	ret = need_str(o, "pod", pod, podcap, why, cap);
	json_decref(o);
	return ret;
}

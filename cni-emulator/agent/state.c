/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the state file, the agent's memory across restarts (istio-cni
 * rebuilds its pod cache from the API server; the lab has none): the enrolled
 * pods as a JSON list, written atomically after every change and at exit,
 * read at start. A pod whose netns cannot be opened any more is restored
 * without an fd and goes out as a Keep in the next snapshot.
 * Never touches: sockets, rules. Interface: agent.h.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "log_go.h"

/* GET /pods's view of a pod, plus what only a restart needs: who enrolled it, and its rules. */
static json_t *state_entry(const struct apod *p)
{
	json_t *o = apod_json(p);

	json_object_set_new(o, "watched", json_boolean(p->watched));
	json_object_set_new(o, "rules", json_boolean(p->rules));
	return o;
}

int state_save(struct agent *a, char *why, size_t cap)
{
	char tmp[PATH_MAX + 8];
	json_t *arr = json_array();
	struct list_node *n;
	int ret;

	if (!a->started)
		return 0;
	list_for_each(n, &a->pods)
		json_array_append_new(arr, state_entry(container_of(n, struct apod, node)));
	snprintf(tmp, sizeof(tmp), "%s.tmp", a->cfg.state_path);
	ret = json_dump_file(arr, tmp, JSON_INDENT(1));
	json_decref(arr);
	if (ret || rename(tmp, a->cfg.state_path)) {
		ret = -errno;
		unlink(tmp);
		return ze_reason(why, cap, ret ? ret : -EIO, "cannot write the state file %s: %s",
				 a->cfg.state_path, strerror(errno));
	}
	return 0;
}

static const char *str_of(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : dflt;
}

/* One saved pod back into the table; its netns opened again if it is still there. */
static int restore_pod(struct agent *a, json_t *o, char *why, size_t cap)
{
	const char *uid = str_of(o, "uid", NULL), *netns = str_of(o, "netns", NULL);
	json_t *ips = json_object_get(o, "ips"), *v;
	char err[512];
	struct apod *p;
	size_t i;

	if (!uid || !netns)
		return ze_reason(why, cap, -EINVAL, "%s: a pod without uid or netns",
				 a->cfg.state_path);
	if (apod_find(a, uid))
		return 0;
	p = apod_new(a, uid, str_of(o, "name", uid), str_of(o, "namespace", "default"),
		     str_of(o, "serviceAccount", "default"), netns);
	if (!p)
		return ze_reason(why, cap, -ENOMEM, "out of memory");
	json_array_foreach(ips, i, v) {
		if (json_is_string(v) && p->nips < AGENT_MAX_IPS &&
		    strlen(json_string_value(v)) < AGENT_IP_LEN)
			strcpy(p->ips[p->nips++], json_string_value(v));
	}
	p->rules = json_is_true(json_object_get(o, "rules"));
	p->watched = json_is_true(json_object_get(o, "watched"));
	if (apod_open_netns(p, err, sizeof(err)))
		golog(LOG_INFO, SCOPE_EMU, "restored pod without its netns: %s\tuid=%s", err, uid);
	else
		golog(LOG_INFO, SCOPE_EMU, "restored pod\tuid=%s netns=%s", uid, netns);
	return 0;
}

int state_load(struct agent *a, char *why, size_t cap)
{
	json_error_t jerr;
	json_t *arr, *o;
	size_t i;
	int ret = 0;

	if (access(a->cfg.state_path, F_OK) && errno == ENOENT)
		return 0;
	arr = json_load_file(a->cfg.state_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!arr || !json_is_array(arr)) {
		json_decref(arr);
		return ze_reason(why, cap, -EINVAL, "%s: not a state file (%s)", a->cfg.state_path,
				 arr ? "expected a JSON list" : jerr.text);
	}
	json_array_foreach(arr, i, o) {
		if (!ret)
			ret = json_is_object(o) ? restore_pod(a, o, why, cap) :
			      ze_reason(why, cap, -EINVAL, "%s: expected a list of pods",
					a->cfg.state_path);
	}
	json_decref(arr);
	return ret;
}

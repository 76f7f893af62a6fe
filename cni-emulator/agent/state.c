/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the state file, the agent's memory across restarts (istio-cni
 * rebuilds its pod cache from the API server; the lab has none): the enrolled
 * pods as a JSON list, written whole (temp file, rename) at exit and when the
 * journal has grown, read at start. Each change in between is one line
 * appended to the journal beside it (PATH.journal: {"pod": {...}} or
 * {"gone": "uid"}) before the request is answered, so a change costs one
 * write, not the whole table (issue 18), and a crash loses nothing that was
 * answered. A restart reads the list, then the journal over it; a torn last
 * line (a crash in the middle of a write) is ignored. A pod whose netns
 * cannot be opened any more is restored without an fd and goes out as a
 * Keep in the next snapshot.
 * Never touches: sockets, rules. Interface: agent.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "log_go.h"

/* The journal is written out into the state file past 2 x the table + this many lines. */
#define JOURNAL_SLACK 64

static void journal_path(const struct agent *a, char *out, size_t cap)
{
	snprintf(out, cap, "%s.journal", a->cfg.state_path);
}

void state_close(struct agent *a)
{
	if (a->journal_fd >= 0)
		close(a->journal_fd);
	a->journal_fd = -1;
}

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
	char tmp[PATH_MAX + 16];
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
	/* the file holds every change now: the journal starts again */
	state_close(a);
	journal_path(a, tmp, sizeof(tmp));
	unlink(tmp);
	a->journal_lines = 0;
	return 0;
}

/* write(2) all of it: 0 or -errno */
static int write_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One change (line, taken) onto the journal; the whole file instead when the journal is long or fails. */
static int journal_append(struct agent *a, json_t *line, char *why, size_t cap)
{
	char path[PATH_MAX + 16], *text;
	int ret = -ENOMEM;
	size_t len;

	/* an empty table is written whole at no cost, and holds no journal fd */
	if (!a->started || !a->npods || a->journal_lines >= 2 * a->npods + JOURNAL_SLACK) {
		json_decref(line);
		return state_save(a, why, cap);	/* the table has the change already */
	}
	text = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	if (a->journal_fd < 0) {
		journal_path(a, path, sizeof(path));
		a->journal_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	}
	if (text && a->journal_fd >= 0) {
		len = strlen(text);
		text[len] = '\n';	/* json_dumps' NUL: the line's end, one write */
		ret = write_all(a->journal_fd, text, len + 1);
	}
	free(text);
	if (!ret) {
		a->journal_lines++;
		return 0;
	}
	/* a torn or missing line must not stay behind later ones */
	return state_save(a, why, cap);
}

int state_pod(struct agent *a, const struct apod *p, char *why, size_t cap)
{
	return journal_append(a, json_pack("{s:o}", "pod", state_entry(p)), why, cap);
}

int state_gone(struct agent *a, const char *uid, char *why, size_t cap)
{
	return journal_append(a, json_pack("{s:s}", "gone", uid), why, cap);
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
	char err[512], addrs[AGENT_MAX_IPS][AGENT_IP_LEN];
	struct apod *p;
	size_t i, nips = 0;

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
		if (json_is_string(v) && nips < AGENT_MAX_IPS &&
		    strlen(json_string_value(v)) < AGENT_IP_LEN)
			strcpy(addrs[nips++], json_string_value(v));
	}
	if (apod_set_ips(p, addrs, nips)) {
		apod_free(a, p);
		return ze_reason(why, cap, -ENOMEM, "out of memory");
	}
	p->rules = json_is_true(json_object_get(o, "rules"));
	p->watched = json_is_true(json_object_get(o, "watched"));
	if (apod_open_netns(p, err, sizeof(err)))
		golog(LOG_INFO, SCOPE_EMU, "restored pod without its netns: %s\tuid=%s", err, uid);
	else
		golog(LOG_INFO, SCOPE_EMU, "restored pod\tuid=%s netns=%s", uid, netns);
	return 0;
}

/* The base list: every entry an object, the first of each uid indexed (idx: uid -> position). */
static int index_base(struct agent *a, json_t *arr, json_t *idx, char *why, size_t cap)
{
	const char *uid;
	json_t *o;
	size_t i;

	json_array_foreach(arr, i, o) {
		if (!json_is_object(o))
			return ze_reason(why, cap, -EINVAL, "%s: expected a list of pods",
					 a->cfg.state_path);
		uid = str_of(o, "uid", NULL);
		if (uid && json_object_get(idx, uid))
			json_array_set_new(arr, i, json_null());	/* a later duplicate: ignored */
		else if (uid)
			json_object_set_new(idx, uid, json_integer((json_int_t)i));
	}
	return 0;
}

/* One journal line over the list: a pod put in its place (or last), or taken out. */
static int replay_line(json_t *arr, json_t *idx, json_t *line)
{
	json_t *pod = json_object_get(line, "pod"), *pos;
	const char *uid = pod ? str_of(pod, "uid", NULL) : json_string_value(json_object_get(line, "gone"));

	if (!uid || (pod && !json_is_object(pod)))
		return -EINVAL;
	pos = json_object_get(idx, uid);
	if (pod && pos)
		return json_array_set(arr, (size_t)json_integer_value(pos), pod);
	if (pod) {
		json_object_set_new(idx, uid, json_integer((json_int_t)json_array_size(arr)));
		return json_array_append(arr, pod);
	}
	if (pos) {
		json_array_set_new(arr, (size_t)json_integer_value(pos), json_null());
		json_object_del(idx, uid);
	}
	return 0;
}

/* The journal (if any) over the list; a last line without its newline was torn by a crash. */
static int replay_journal(struct agent *a, json_t *arr, json_t *idx, char *why, size_t cap)
{
	char path[PATH_MAX + 16], *buf = NULL;
	size_t bcap = 0, no = 0;
	off_t good = 0;
	ssize_t n;
	json_t *line;
	FILE *f;
	int ret = 0;

	journal_path(a, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : ze_reason(why, cap, -errno, "%s: %s", path, strerror(errno));
	while (!ret && (n = getline(&buf, &bcap, f)) > 0 && buf[n - 1] == '\n') {
		no++;
		line = json_loadb(buf, (size_t)n, 0, NULL);
		if (!json_is_object(line) || replay_line(arr, idx, line))
			ret = ze_reason(why, cap, -EINVAL, "%s:%zu: not a state journal line", path, no);
		json_decref(line);
		good += n;
	}
	free(buf);
	fclose(f);
	/* the next line must not be glued to a torn one */
	if (!ret && truncate(path, good))
		ret = ze_reason(why, cap, -errno, "%s: %s", path, strerror(errno));
	a->journal_lines = no;
	return ret;
}

int state_load(struct agent *a, char *why, size_t cap)
{
	json_error_t jerr;
	json_t *arr, *idx = json_object(), *o;
	size_t i;
	int ret = 0;

	if (access(a->cfg.state_path, F_OK) && errno == ENOENT) {
		arr = json_array();
	} else {
		arr = json_load_file(a->cfg.state_path, JSON_REJECT_DUPLICATES, &jerr);
		if (!arr || !json_is_array(arr)) {
			json_decref(arr);
			json_decref(idx);
			return ze_reason(why, cap, -EINVAL, "%s: not a state file (%s)",
					 a->cfg.state_path, arr ? "expected a JSON list" : jerr.text);
		}
	}
	ret = index_base(a, arr, idx, why, cap);
	if (!ret)
		ret = replay_journal(a, arr, idx, why, cap);
	json_array_foreach(arr, i, o) {
		if (!ret && !json_is_null(o))
			ret = restore_pod(a, o, why, cap);
	}
	json_decref(arr);
	json_decref(idx);
	malloc_trim(0);	/* the parsed file's many small blocks back to the system */
	return ret;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the agent's pod table (istio-cni's pod cache): the enrolled pods,
 * each with its netns path and the fd the snapshot sends, and its JSON view.
 * Never touches: sockets, rules. Interface: agent.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "netns.h"

/* FNV-1a: the uid's bucket */
static size_t bucket_of(const struct agent *a, const char *uid)
{
	uint32_t h = 2166136261u;

	while (*uid)
		h = (h ^ (unsigned char)*uid++) * 16777619u;
	return h & (a->nbuckets - 1);
}

struct apod *apod_find(struct agent *a, const char *uid)
{
	struct apod *p;

	if (!a->nbuckets)
		return NULL;
	for (p = a->pod_index[bucket_of(a, uid)]; p; p = p->hnext)
		if (!strcmp(p->uid, uid))
			return p;
	return NULL;
}

/* The index with room for twice as many pods (a power of two), rebuilt from the list. */
static int index_grow(struct agent *a)
{
	size_t n = a->nbuckets ? a->nbuckets * 2 : 64, b;
	struct apod **t = calloc(n, sizeof(*t)), *p;
	struct list_node *it;

	if (!t)
		return -ENOMEM;
	free(a->pod_index);
	a->pod_index = t;
	a->nbuckets = n;
	list_for_each(it, &a->pods) {
		p = container_of(it, struct apod, node);
		b = bucket_of(a, p->uid);
		p->hnext = t[b];
		t[b] = p;
	}
	return 0;
}

/* A pod by its netns as given or resolved the iproute2 way (name, path). */
struct apod *apod_find_netns(struct agent *a, const char *spec)
{
	char path[PATH_MAX];
	const char *name;
	struct list_node *n;
	struct apod *p;

	if (netns_resolve(spec, path, sizeof(path), &name))
		path[0] = '\0';
	list_for_each(n, &a->pods) {
		p = container_of(n, struct apod, node);
		if (!strcmp(p->netns, spec) || !strcmp(p->netns, path))
			return p;
	}
	return NULL;
}

struct apod *apod_new(struct agent *a, const char *uid, const char *name, const char *ns,
		      const char *sa, const char *netns)
{
	struct apod *p = calloc(1, sizeof(*p));
	size_t b;

	if (!p)
		return NULL;
	p->nsfd = -1;
	p->uid = strdup(uid);
	p->name = strdup(name);
	p->namespace_ = strdup(ns);
	p->service_account = strdup(sa);
	p->netns = strdup(netns);
	if (!p->uid || !p->name || !p->namespace_ || !p->service_account || !p->netns ||
	    (a->npods >= a->nbuckets && index_grow(a))) {
		apod_free(a, p);
		return NULL;
	}
	list_add_tail(&a->pods, &p->node);
	b = bucket_of(a, p->uid);
	p->hnext = a->pod_index[b];
	a->pod_index[b] = p;
	a->npods++;
	return p;
}

void apod_remove(struct agent *a, struct apod *p)
{
	struct apod **pp;

	if (!p->node.next)
		return;
	list_del(&p->node);
	p->node.next = NULL;
	for (pp = &a->pod_index[bucket_of(a, p->uid)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	}
	if (--a->npods == 0) {	/* the table is empty: its index goes too */
		free(a->pod_index);
		a->pod_index = NULL;
		a->nbuckets = 0;
	}
}

/* Frees p (taken out of the table first if it is in one); the last pod gone, the heap is trimmed. */
void apod_free(struct agent *a, struct apod *p)
{
	apod_remove(a, p);
	apod_release_fd(p);
	free(p->uid);
	free(p->name);
	free(p->namespace_);
	free(p->service_account);
	free(p->netns);
	free(p->ips);
	free(p);
	if (!a->npods)
		malloc_trim(0);	/* thousands of pods' small blocks back to the system */
}

int apod_set_ips(struct apod *p, const char (*ips)[AGENT_IP_LEN], size_t n)
{
	char (*copy)[AGENT_IP_LEN] = NULL;

	if (n > AGENT_MAX_IPS)
		n = AGENT_MAX_IPS;
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, ips, n * sizeof(*copy));
	}
	free(p->ips);
	p->ips = copy;
	p->nips = (unsigned char)n;
	return 0;
}

void apod_release_fd(struct apod *p)
{
	if (p->nsfd >= 0)
		close(p->nsfd);
	p->nsfd = -1;
}

int apod_open_netns(struct apod *p, char *why, size_t cap)
{
	int nstype = 0, fd;

	fd = netns_open_path(p->netns, &nstype);
	if (fd < 0) {
		snprintf(why, cap, "%s: %s", p->netns,
			 fd == -ENOTTY ? "not a namespace file" :
			 fd == -EINVAL ? "not a network namespace" : strerror(-fd));
		return fd;
	}
	apod_release_fd(p);
	p->nsfd = fd;
	netns_fd_id(fd, &p->id);
	return 0;
}

bool apod_netns_present(const struct apod *p)
{
	struct stat st;

	return stat(p->netns, &st) == 0 && st.st_dev == p->id.dev && st.st_ino == p->id.ino;
}

static const char *apod_state(const struct apod *p)
{
	if (p->nsfd < 0 || !apod_netns_present(p))
		return "netns-gone";
	return p->acked ? "enrolled" : "pending";
}

/* One pod as GET /pods and the state file show it. */
struct json_t *apod_json(const struct apod *p)
{
	json_t *o, *ips = json_array();
	size_t i;

	for (i = 0; i < p->nips; i++)
		json_array_append_new(ips, json_string(p->ips[i]));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "uid", p->uid, "name", p->name,
		      "namespace", p->namespace_, "serviceAccount", p->service_account, "netns",
		      p->netns, "ips", ips, "state", apod_state(p));
	return o;
}

char *apods_json(struct agent *a)
{
	json_t *arr = json_array();
	struct list_node *n;
	char *s;

	list_for_each(n, &a->pods)
		json_array_append_new(arr, apod_json(container_of(n, struct apod, node)));
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s;
}

size_t apods_count(struct agent *a)
{
	return a->npods;
}

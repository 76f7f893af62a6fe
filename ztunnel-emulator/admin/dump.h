/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dump.c: the parts of /config_dump in ztunnel's own shape (observability.md
 * §3, istioctl's ZtunnelDump): workloads, config (camelCase) and
 * workloadState. Reads only; report.c assembles the whole document.
 * Interface: this header.
 */
#ifndef ZT_DUMP_H
#define ZT_DUMP_H

#include <stddef.h>
#include <stdio.h>

struct daemon;
struct pod;

/* One workload object (camelCase in every release); host is the node's name. */
void dump_workload(const struct daemon *d, const struct pod *p, const char *host, FILE *out);
/* "workloads": one per pod, v the pods sorted by uid (n of them). */
void dump_workloads(const struct daemon *d, struct pod *const *v, size_t n, FILE *out);
/* "config": the settings ztunnel would show, by its names. */
void dump_config(const struct daemon *d, FILE *out);
/* "workloadState": uid -> {state, connections (Up pods), info}. */
void dump_workload_state(struct pod *const *v, size_t n, FILE *out);

/*
 * The whole ztunnel part of 1.21's or 1.22's config_dump, from "{" to its
 * last key, v the pods sorted by uid (dump_legacy.c).
 */
void dump_legacy(const struct daemon *d, struct pod *const *v, size_t n, FILE *out);
/* 1.21's GET /workloadmanager: compact {uid: {"state": ...}}. */
void dump_workloadmanager(struct pod *const *v, size_t n, FILE *out);

#endif

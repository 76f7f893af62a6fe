/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.c: views of the daemon's state — config_dump JSON, readiness,
 * Prometheus text, the human table. Reads only. Interface: this header.
 */
#ifndef ZT_REPORT_H
#define ZT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct daemon;
struct pod;

/* report.c: the pod table as config_dump JSON, readiness, Prometheus text, a human table. */
void report_config_dump(const struct daemon *d, FILE *out);
/* 1.21's /workloadmanager: uid -> {"state": "Up"|"Pending"}, compact JSON. */
void report_workloadmanager(const struct daemon *d, FILE *out);
/*
 * Returns true when ready; writes ztunnel's body either way, and when not
 * ready in the listening role the emulator's reason to why (else "").
 */
bool report_ready(const struct daemon *d, FILE *out, char *why, size_t cap);
/* Prometheus text 0.0.4, or OpenMetrics when openmetrics (ztunnel's format). */
void report_metrics(const struct daemon *d, FILE *out, bool openmetrics);
void report_table(const struct daemon *d, FILE *out);
/* The SIGUSR1 table, through the log in one piece (queued or dropped whole). */
void report_log_table(const struct daemon *d);
const char *pod_state_name(const struct pod *p);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_RELEASE_H
#define ZE_RELEASE_H

/*
 * Istio releases and what each changes (observability.md 6, roles.md): the
 * one table both programs read for --istio-version. Explicit options
 * (--log-format, --redirect, --protocol-errors, --dns-proxy) override it.
 * Owns: the table, parsing "X.Y". Never prints, never touches the daemon.
 */
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* ztunnel's warn line for a failed connect to the node agent (roles.md 2) */
enum release_connect_text {
	CONNECT_TEXT_121,	/* failed to connect to server: <e>. retrying in <d> */
	CONNECT_TEXT_123,	/* failed to connect to server "<p>": ... */
	CONNECT_TEXT_124,	/* failed to connect to the Istio CNI node agent over "<p>", ... */
};

/* An Add without workload_info (zds.md; field 2 added in 1.22) */
enum release_add_info {
	ADD_INFO_ABSENT,	/* 1.21: no such field, an Add never needs it */
	ADD_INFO_OPTIONAL,	/* 1.22-1.23: accepted, the pod has no name */
	ADD_INFO_REQUIRED,	/* >= 1.24: ProtocolError "... required but not present" */
};

/* /config_dump's shape (observability.md 3) */
enum release_dump {
	DUMP_121,	/* snake_case, no workloadState: GET /workloadmanager apart */
	DUMP_MAPS,	/* 1.22: camelCase, workloads/services keyed by address, workloadState */
	DUMP_ARRAYS,	/* >= 1.23: workloads/services as arrays */
};

/* LOG_FORMAT=json (ztunnel src/telemetry.rs) */
enum release_json {
	JSON_NONE,	/* 1.21: no LOG_FORMAT, always the full format */
	JSON_TRACING,	/* 1.22: tracing-subscriber's json, flattened */
	JSON_ISTIO,	/* >= 1.23: IstioJsonFormat: level, time, scope, fields, spans */
};

struct release {
	const char *name;	/* "1.21" */
	unsigned minor;
	bool tab_layout;	/* ztunnel's IstioFormat (>= 1.22), else tracing's full format */
	bool new_texts;		/* Add/Keep/Del/Snapshot/retry texts of >= 1.23 */
	bool keep_info;		/* Keep logged at info (>= 1.23), else debug */
	enum release_connect_text connect_text;
	bool redirect_rules;	/* istio-cni's REDIRECT variant (>= 1.24), else TPROXY */
	bool dns_proxy;		/* ztunnel's DNS proxy on by default (>= 1.23) */
	bool dns_from_pod;	/* forwarded queries leave from the pod's netns (>= 1.24) */
	bool protocol_errors_exit;	/* ProtocolError exits 1 (>= 1.23), else reconnects */
	bool del_before_snapshot;	/* Del before SnapshotSent accepted (>= 1.25) */
	enum release_add_info add_info;
	enum release_dump dump;
	enum release_json json;
	bool access_log;	/* the "access" target's lines (>= 1.22), else 1.21's proxy lines */
};

/*
 * istio-cni's node-agent log texts (observability.md 2, the istio-cni table;
 * read from istio/istio cni/pkg/nodeagent at each tag): which generation of
 * lines the release prints. Its layout (Istio's Go logger) never changed.
 */
enum release_cni_texts {
	CNI_TEXTS_121,	/* snapshot and steady Adds at debug, "in pod mode - ..." */
	CNI_TEXTS_122,	/* the same Adds at info */
	CNI_TEXTS_123,	/* labelled lines: "sending pod add to ztunnel uid=..." */
	CNI_TEXTS_125,	/* + conn_uuid, info on connect/disconnect (%!s(int=N)) */
	CNI_TEXTS_126,	/* "new ztunnel connected, total connected: N" */
};
enum release_cni_texts release_cni_texts(const struct release *r);

/* The newest release the reference describes: the default. */
const struct release *release_default(void);
/* 1.21, whose lines the debugging guide and the walk-thru show. */
const struct release *release_oldest(void);
/* "X.Y" (or "X.Y.Z", the patch ignored): the release, or NULL with e naming the known ones. */
const struct release *release_parse(const char *text, struct ze_err *e);
/* "1.21 1.22 ... 1.30" for --help and errors. */
const char *release_names(void);

#endif

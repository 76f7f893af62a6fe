/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_AGENT_LINES_H
#define CNI_AGENT_LINES_H

/*
 * The node agent's log lines as the chosen --istio-version's istio-cni
 * prints them (observability.md 2; istio/istio cni/pkg/nodeagent at each
 * tag): texts, levels and labels per generation (release.h's
 * release_cni_texts), in Istio's Go layout (log_go.h). Internal to
 * cni-emulator/agent/.
 */
#include <stdbool.h>

#include "conn.h"

/* A ztunnel connected (c already counted) or left (already uncounted). */
void line_connected(const struct ztconn *c);
void line_disconnected(const struct ztconn *c);
/* handleConn returned an error (why), before the disconnect line. */
void line_conn_failed(const struct ztconn *c, const char *why);
void line_hello(const struct ztconn *c, const char *version);
/* The snapshot's Add (keep false) or Keep for p; a nack of one of them. */
void line_snapshot_pod(const struct ztconn *c, const struct apod *p, bool keep);
void line_snapshot_nack(const struct ztconn *c, const char *uid, const char *err);
void line_snapshot_sent_nack(const struct ztconn *c, const char *err);
/* A steady-state Add to c, and its nack. */
void line_add(const struct ztconn *c, const struct apod *p);
void line_add_nack(const struct ztconn *c, const char *uid, const char *err);
/* A steady-state request that got no valid answer (broken: the write failed). */
void line_send_error(const struct ztconn *c, const char *err, bool broken);
void line_unexpected_message(const struct ztconn *c);
/* AddPodToMesh and RemovePodFromMesh */
void line_enroll(const struct agent *a, const char *ns, const char *name);
void line_enroll_rules_failed(const struct agent *a, const struct apod *p, const char *err);
void line_enroll_no_ztunnel(const struct agent *a, const struct apod *p);
void line_unenroll(const struct agent *a, const struct apod *p, bool deleted);
void line_netns_gone(const struct agent *a, const struct apod *p);

#endif

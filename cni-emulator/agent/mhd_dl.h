/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd, loaded when the agent starts its control socket and never
 * before (mhd_dl.c): the one-shot verbs never link it.
 */
#ifndef CNI_AGENT_MHD_DL_H
#define CNI_AGENT_MHD_DL_H

#include <stddef.h>
#include <microhttpd.h>

/* The calls control.c makes, resolved from the library by mhd_dl_load(). */
struct mhd_api {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
};

/* Loads the library once (later calls return the same): the table, or NULL with why. */
const struct mhd_api *mhd_dl_load(char *why, size_t cap);

#endif

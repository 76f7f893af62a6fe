/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: loading libmicrohttpd at run time for the agent's control socket.
 * Linking it pulled GnuTLS and eight more libraries (with GnuTLS's
 * start-up constructor) into every `cni-emulator add`, which uses none of
 * them: that load was more than the whole fork + exec of /bin/true
 * (issue 18, target 1). Only `cni-emulator agent` pays it now, once.
 * Never touches: anything but the library handle. Interface: mhd_dl.h.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mhd_dl.h"

/* The ABI the headers we compile against describe (Debian 10 to 13: 12). */
static const char *const sonames[] = { "libmicrohttpd.so.12", "libmicrohttpd.so" };

static struct mhd_api api;
static void *lib;

#define ENTRY(field, name) { name, offsetof(struct mhd_api, field) }
static const struct {
	const char *name;
	size_t off;
} entries[] = {
	ENTRY(start_daemon, "MHD_start_daemon"),
	ENTRY(stop_daemon, "MHD_stop_daemon"),
	ENTRY(create_response_from_buffer, "MHD_create_response_from_buffer"),
	ENTRY(add_response_header, "MHD_add_response_header"),
	ENTRY(queue_response, "MHD_queue_response"),
	ENTRY(destroy_response, "MHD_destroy_response"),
};

/* Fills the table: complete, or -1 with the missing symbol named. */
static int resolve(char *why, size_t cap)
{
	size_t i;
	void *p;

	for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		p = dlsym(lib, entries[i].name);
		if (!p) {
			snprintf(why, cap, "libmicrohttpd: no symbol %s", entries[i].name);
			return -1;
		}
		memcpy((char *)&api + entries[i].off, &p, sizeof(p));
	}
	return 0;
}

const struct mhd_api *mhd_dl_load(char *why, size_t cap)
{
	size_t i;

	if (lib)
		return &api;
	for (i = 0; !lib && i < sizeof(sonames) / sizeof(sonames[0]); i++)
		lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(why, cap, "cannot load libmicrohttpd (%s): %s", sonames[0], dlerror());
		return NULL;
	}
	if (resolve(why, cap) < 0) {
		dlclose(lib);
		lib = NULL;
		return NULL;
	}
	return &api;
}

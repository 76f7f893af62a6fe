/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the checks of the SOCKET argument that turn a confusing connect or
 * netns error into a usage error naming the mistake. Never prints.
 */
#include "argcheck.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cni.h"

static bool is_socket(const char *path)
{
	struct stat st;

	return path && !stat(path, &st) && S_ISSOCK(st.st_mode);
}

/* a bare word naming a network namespace under /run/netns */
static bool is_netns_name(const char *s)
{
	char path[4096];
	struct stat st;

	if (!*s || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, s);
	return !stat(path, &st);
}

int socket_arg_problem(const char *sock, const char *next, bool verb_given, char *why,
		       size_t cap)
{
	struct stat st;
	bool exists = !stat(sock, &st);

	if (exists && S_ISSOCK(st.st_mode))
		return 0;
	if (is_socket(next) || (!exists && is_netns_name(sock))) {
		snprintf(why, cap, "'%s' is %s, not the daemon's socket: SOCKET comes first "
			 "(arguments swapped?)", sock,
			 is_netns_name(sock) ? "a network namespace" : "not a socket");
		return 1;
	}
	if (exists) {
		snprintf(why, cap, "SOCKET '%s' is %s, not a Unix socket: expected the socket "
			 "ztunnel-emulator serves ZDS on", sock,
			 S_ISDIR(st.st_mode) ? "a directory" : S_ISREG(st.st_mode) ?
			 "a regular file" : "not a socket");
		return 1;
	}
	/* "cni-emulator delete ns2": a word that is no file, where a verb may stand */
	if (!verb_given && !strchr(sock, '/') && !strchr(sock, '.')) {
		snprintf(why, cap, "unknown subcommand '%s' (add, del, keep, sync, inspect); "
			 "as SOCKET, no such file", sock);
		return 1;
	}
	return 0;
}

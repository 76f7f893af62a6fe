/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_ARGCHECK_H
#define CNI_ARGCHECK_H

/*
 * The newcomer's mistakes with SOCKET, caught before anything is opened or
 * sent (issue 17): a mistyped subcommand taken for SOCKET ("delete ns2"),
 * SOCKET and NETNS swapped, a directory or regular file as SOCKET.
 */
#include <stdbool.h>
#include <stddef.h>

/*
 * sock: the SOCKET argument; next: the argument after it (NETNS or UID), or
 * NULL; verb_given: the command line named a subcommand. Returns 0 when sock
 * may be the daemon's socket (one that does not exist yet is left to the
 * connect, which says whether the daemon runs), else 1 with the usage error
 * (what was given, what was expected) in why. Prints nothing.
 */
int socket_arg_problem(const char *sock, const char *next, bool verb_given, char *why,
		       size_t cap);

#endif

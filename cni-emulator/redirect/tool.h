/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_RD_TOOL_H
#define CNI_RD_TOOL_H

/* Runs a tool inside a netns (tool.c); rd_set_tool() is in redirect.h. */
#include <stddef.h>

/*
 * Runs `tool arg` inside the netns nsfd: a child setns()es and execs it with
 * input on its stdin (a pipe). *out (if not NULL) gets its stdout (malloc'd,
 * NUL-terminated). 0 when it exits 0; -EIO with its stderr in err when it
 * fails; -errno when it could not run.
 */
int rd_run_tool(int nsfd, const char *tool, const char *arg, const char *input, char **out,
	     char *err, size_t cap);
/* The same with a NULL-terminated list of arguments (at most 6). */
int rd_run_toolv(int nsfd, const char *tool, const char *const args[], const char *input,
		 char **out, char *err, size_t cap);

#endif

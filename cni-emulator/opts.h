/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_OPTS_H
#define CNI_OPTS_H

/*
 * The getopt cases every cni-emulator parser shares (the verbs' and the
 * agent's), so that each says the same: --backend, -h, -V, an unknown option.
 * Command layer: these print and exit on a usage error (common/cli.h).
 */
#include <stdio.h>

/* --backend ARG: chosen once, before any rule is read or written; else a usage error. */
void opts_backend(const char *arg);
/*
 * The tail of a parser's switch: -h prints usage to stdout, -V the version
 * (both return 1: the caller exits 0); anything else is a usage error.
 */
int opts_tail(int c, void (*usage)(FILE *));

#endif

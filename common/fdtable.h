/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZE_FDTABLE_H
#define ZE_FDTABLE_H

/*
 * The process's file descriptor table sized up front. The kernel doubles the
 * table as fds are opened (64, 128, ... entries), and in a process with more
 * than one thread each doubling waits for an RCU grace period: milliseconds
 * (issue 18: the snapshot stalled 5-15 ms at the 256th, 512th ... 4096th fd,
 * once the log writer thread ran). Called before the first thread starts,
 * the growth happens once, with no one to wait for. The table never
 * shrinks; it costs 8 bytes of kernel memory a slot.
 */

/* Room for at least n fds (cut to the open-file limit and to FDTABLE_MAX); never fails. */
void fdtable_reserve(unsigned long n);

/* Past this many slots (512 KiB of kernel memory) the table grows as it must. */
#define FDTABLE_MAX 65536UL

#endif

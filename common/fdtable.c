/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: sizing the fd table once, before threads exist. Never touches any
 * fd but the one it makes and closes. Interface: fdtable.h.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdtable.h"

void fdtable_reserve(unsigned long n)
{
	struct rlimit rl;
	int fd;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (n > FDTABLE_MAX)
		n = FDTABLE_MAX;
	if (rl.rlim_cur != RLIM_INFINITY && n > rl.rlim_cur)
		n = (unsigned long)rl.rlim_cur;
	if (n < 2)
		return;
	/* the lowest free fd at or above n - 1: the table grows to hold it */
	fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, (int)(n - 1));
	if (fd >= 0)
		close(fd);
}

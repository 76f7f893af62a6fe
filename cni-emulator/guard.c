/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: the checks that keep cni-emulator from doing harm as root (host
 * netns, signals during an add, why a socket is closed to us).
 * Never touches: output, the rules. Interface: guard.h.
 */
#include "guard.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netns.h"

/* (st_dev, st_ino) of a namespace file: 0, or -errno when it cannot be looked at */
static int ns_id_of(const char *path, struct netns_id *id)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

int guard_host_netns(int nsfd, pid_t daemon_pid, char *why, size_t cap)
{
	struct netns_id pod, other;
	char path[64];
	int ret = netns_fd_id(nsfd, &pod);

	if (ret)
		return ret;
	/* istio#55139: a host netns enrolled as a pod's took the node off the network */
	if (!netns_current_id(&other) && netns_id_eq(&pod, &other)) {
		snprintf(why, cap, "it is cni-emulator's own (the host's) network namespace");
		return 1;
	}
	if (!ns_id_of("/proc/1/ns/net", &other) && netns_id_eq(&pod, &other)) {
		snprintf(why, cap, "it is the host's: init's network namespace (/proc/1/ns/net)");
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)daemon_pid);
	if (daemon_pid > 0 && !ns_id_of(path, &other) && netns_id_eq(&pod, &other)) {
		snprintf(why, cap, "it is the daemon's own network namespace (pid %d)",
			 (int)daemon_pid);
		return 1;
	}
	return 0;
}

pid_t guard_peer_pid(int sock)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr))
		return 0;
	return cr.pid;
}

static sigset_t guard_old_mask;

int guard_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, &guard_old_mask) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		sigprocmask(SIG_SETMASK, &guard_old_mask, NULL);
		return -e;
	}
	return fd;
}

int guard_signal(int sigfd)
{
	struct signalfd_siginfo si;

	if (sigfd < 0 || read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

void guard_end(int sigfd)
{
	if (sigfd < 0)
		return;
	close(sigfd);
	sigprocmask(SIG_SETMASK, &guard_old_mask, NULL);
}

static void owner_text(uid_t uid, gid_t gid, char *buf, size_t cap)
{
	struct passwd *pw = getpwuid(uid);
	struct group *gr = getgrgid(gid);
	char u[32], g[32];

	snprintf(u, sizeof(u), "%u", (unsigned)uid);
	snprintf(g, sizeof(g), "%u", (unsigned)gid);
	snprintf(buf, cap, "%s:%s", pw ? pw->pw_name : u, gr ? gr->gr_name : g);
}

void guard_explain_eacces(const char *path, char *buf, size_t cap)
{
	char dir[4096], owner[160];
	struct stat st;

	buf[0] = '\0';
	if (stat(path, &st) == 0) {
		owner_text(st.st_uid, st.st_gid, owner, sizeof(owner));
		/* root:root 0600 prints as the "owned by root" */
		if (!(st.st_mode & 070))
			owner[strcspn(owner, ":")] = '\0';
		snprintf(buf, cap, " (socket mode %04o owned by %s; run as root%s%s or start the "
			 "daemon with --socket-mode/%s--allow-uid)", (unsigned)(st.st_mode & 07777),
			 owner, st.st_uid ? " or as " : "", st.st_uid ? owner : "",
			 st.st_mode & 070 ? "--socket-group/" : "");
		return;
	}
	/* the socket itself cannot be looked at: a directory on the way is closed */
	snprintf(dir, sizeof(dir), "%s", path);
	while (strcmp(dir, "/") && strcmp(dir, ".")) {
		char tmp[sizeof(dir)];

		snprintf(tmp, sizeof(tmp), "%s", dir);
		snprintf(dir, sizeof(dir), "%s", dirname(tmp));
		if (stat(dir, &st) == 0 && access(dir, X_OK) < 0) {
			owner_text(st.st_uid, st.st_gid, owner, sizeof(owner));
			snprintf(buf, cap, " (its directory %s is mode %04o owned by %s, closed to "
				 "uid %u; run as root or start the daemon with its socket in a "
				 "directory you can reach)", dir, (unsigned)(st.st_mode & 07777), owner,
				 (unsigned)getuid());
			return;
		}
	}
}

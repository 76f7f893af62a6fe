/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CNI_GUARD_H
#define CNI_GUARD_H

/*
 * What keeps cni-emulator from doing harm with root's rights: it never writes
 * Istio's rules into a host network namespace, it takes back its rules when
 * interrupted, and it says why a socket it cannot connect to is closed to it.
 * Nothing here prints; messages go into the caller's buffer.
 */
#include <stddef.h>
#include <sys/types.h>

/*
 * Is the netns nsfd one a pod must never be: cni-emulator's own, init's
 * (/proc/1/ns/net) or the daemon's (daemon_pid > 0, from the socket's peer
 * credentials)? 0 when it is none of them; 1 with why saying which ("it is
 * the host's: init's network namespace (/proc/1/ns/net)"). A namespace that
 * cannot be looked at (another user's /proc/1 in a user namespace) is not
 * compared. -errno when nsfd itself cannot be identified.
 */
int guard_host_netns(int nsfd, pid_t daemon_pid, char *why, size_t cap);

/* The pid that created the listening socket connected to sock (SO_PEERCRED), or 0. */
pid_t guard_peer_pid(int sock);

/*
 * Blocks SIGINT, SIGTERM and SIGHUP and returns a signalfd (non-blocking) that
 * reports them, so that the caller notices an interruption where it can
 * still undo its work: the fd, or -errno. guard_signal() reads one: its
 * number, or 0 when none is pending. guard_end() closes the fd and restores
 * the signal mask (a signal still pending is then delivered).
 */
int guard_signals(void);
int guard_signal(int sigfd);
void guard_end(int sigfd);

/*
 * Why connect() to path failed with EACCES, for the end of the error message:
 * " (socket mode 0600 owned by root; run as root or start the daemon with
 * --socket-mode/--allow-uid)", or what about its directory stops the caller.
 */
void guard_explain_eacces(const char *path, char *buf, size_t cap);

#endif

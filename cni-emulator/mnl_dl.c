/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owns: loading libmnl at run time, for cni-emulator only. A plain
 * `cni-emulator add` never speaks netlink (only --redirect's ip rules,
 * inspect's sock_diag and the agent do), yet a linked libmnl.so was opened,
 * mapped and relocated by every one-shot client before main() (issue 18,
 * target 1: +5 page faults, the empty main() + libmnl row of make bench).
 * These definitions of the libmnl calls the program makes stand in for the
 * library's at link time (so --as-needed drops it), and forward to it,
 * loaded by the first socket opened. common/nl.c and sockdiag.c stay as
 * they are; the daemon links the real library.
 * Never touches: anything but the library handle. No header: the
 * prototypes are libmnl's own.
 */
#include <dlfcn.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdio.h>
#include <stdlib.h>

/* The ABI the headers we compile against describe (Debian 10 to 13: 0). */
#define MNL_SONAME "libmnl.so.0"

#define MNL_CALLS(X)                                                                  \
	X(mnl_socket_open2) X(mnl_socket_bind) X(mnl_socket_close) X(mnl_socket_get_fd) \
	X(mnl_socket_get_portid) X(mnl_socket_sendto) X(mnl_socket_recvfrom)            \
	X(mnl_cb_run) X(mnl_nlmsg_put_header) X(mnl_nlmsg_put_extra_header)              \
	X(mnl_nlmsg_get_payload) X(mnl_nlmsg_get_payload_len) X(mnl_attr_parse)          \
	X(mnl_attr_validate) X(mnl_attr_get_type) X(mnl_attr_get_payload)                \
	X(mnl_attr_get_payload_len) X(mnl_attr_get_str) X(mnl_attr_get_u32)              \
	X(mnl_attr_put_u32) X(mnl_attr_put_strz)

#define FIELD(name) __typeof__(name) *name;
static struct {
	MNL_CALLS(FIELD)
} api;
static void *lib;

/* 0 once the table is complete; -1 (nothing kept) if the library or a symbol is missing. */
static int load(void)
{
	if (lib)
		return 0;
	lib = dlopen(MNL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return -1;
#define RESOLVE(name)                                           \
	if (!(*(void **)&api.name = dlsym(lib, #name))) {       \
		dlclose(lib);                                   \
		lib = NULL;                                     \
		return -1;                                      \
	}
	MNL_CALLS(RESOLVE)
#undef RESOLVE
	return 0;
}

/*
 * Every path reaches netlink through mnl_socket_open2() first (which
 * reports a missing library as ELIBACC); the calls below run on its
 * socket or its buffers, so the library is already there. Were it not, no
 * return value could say so: stop rather than call through NULL.
 */
static void need(void)
{
	if (load() < 0) {
		fprintf(stderr, "cni-emulator: cannot load %s: %s\n", MNL_SONAME, dlerror());
		abort();
	}
}

struct mnl_socket *mnl_socket_open2(int bus, int flags)
{
	if (load() < 0) {
		errno = ELIBACC;
		return NULL;
	}
	return api.mnl_socket_open2(bus, flags);
}

int mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid)
{
	need();
	return api.mnl_socket_bind(nl, groups, pid);
}

int mnl_socket_close(struct mnl_socket *nl)
{
	need();
	return api.mnl_socket_close(nl);
}

int mnl_socket_get_fd(const struct mnl_socket *nl)
{
	need();
	return api.mnl_socket_get_fd(nl);
}

unsigned int mnl_socket_get_portid(const struct mnl_socket *nl)
{
	need();
	return api.mnl_socket_get_portid(nl);
}

ssize_t mnl_socket_sendto(const struct mnl_socket *nl, const void *req, size_t siz)
{
	need();
	return api.mnl_socket_sendto(nl, req, siz);
}

ssize_t mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t siz)
{
	need();
	return api.mnl_socket_recvfrom(nl, buf, siz);
}

int mnl_cb_run(const void *buf, size_t numbytes, unsigned int seq, unsigned int portid,
	       mnl_cb_t cb_data, void *data)
{
	need();
	return api.mnl_cb_run(buf, numbytes, seq, portid, cb_data, data);
}

struct nlmsghdr *mnl_nlmsg_put_header(void *buf)
{
	need();
	return api.mnl_nlmsg_put_header(buf);
}

void *mnl_nlmsg_put_extra_header(struct nlmsghdr *nlh, size_t size)
{
	need();
	return api.mnl_nlmsg_put_extra_header(nlh, size);
}

void *mnl_nlmsg_get_payload(const struct nlmsghdr *nlh)
{
	need();
	return api.mnl_nlmsg_get_payload(nlh);
}

size_t mnl_nlmsg_get_payload_len(const struct nlmsghdr *nlh)
{
	need();
	return api.mnl_nlmsg_get_payload_len(nlh);
}

int mnl_attr_parse(const struct nlmsghdr *nlh, unsigned int offset, mnl_attr_cb_t cb,
		   void *data)
{
	need();
	return api.mnl_attr_parse(nlh, offset, cb, data);
}

int mnl_attr_validate(const struct nlattr *attr, enum mnl_attr_data_type type)
{
	need();
	return api.mnl_attr_validate(attr, type);
}

uint16_t mnl_attr_get_type(const struct nlattr *attr)
{
	need();
	return api.mnl_attr_get_type(attr);
}

void *mnl_attr_get_payload(const struct nlattr *attr)
{
	need();
	return api.mnl_attr_get_payload(attr);
}

uint16_t mnl_attr_get_payload_len(const struct nlattr *attr)
{
	need();
	return api.mnl_attr_get_payload_len(attr);
}

const char *mnl_attr_get_str(const struct nlattr *attr)
{
	need();
	return api.mnl_attr_get_str(attr);
}

uint32_t mnl_attr_get_u32(const struct nlattr *attr)
{
	need();
	return api.mnl_attr_get_u32(attr);
}

void mnl_attr_put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t data)
{
	need();
	api.mnl_attr_put_u32(nlh, type, data);
}

void mnl_attr_put_strz(struct nlmsghdr *nlh, uint16_t type, const char *data)
{
	need();
	api.mnl_attr_put_strz(nlh, type, data);
}

# SPDX-License-Identifier: Apache-2.0
# Istio ambient pod-handoff lab emulator: cni-emulator and ztunnel-emulator.

VERSION := 0.1.0

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wformat=2 -Wpointer-arith -Wundef -Wvla
# Recursive (=) so pkg-config only runs when something is compiled, after `make deps`.
PKG_CFLAGS = $(shell pkg-config --cflags libcap libmnl libmicrohttpd)
PKG_LIBS = $(shell pkg-config --libs libcap libmnl libmicrohttpd)
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DZE_VERSION='"$(VERSION)"' -Icommon $(WARNINGS) \
	$(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lm $(LDLIBS)

COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:.c=.o)
COMMON_HDRS := $(wildcard common/*.h)
LIB := common/libcommon.a

PROGS := cni-emulator/cni-emulator ztunnel-emulator/ztunnel-emulator
UNIT_TESTS := $(patsubst %.c,%,$(wildcard tests/unit/test_*.c))
HELPERS := tests/helpers/zds-tool

.PHONY: all deps demo check test clean shellcheck

all: $(PROGS) $(UNIT_TESTS) $(HELPERS)

common/%.o: common/%.c $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(COMMON_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

cni-emulator/cni-emulator: cni-emulator/cni-emulator.c $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_ALL)

ZT_SRCS := $(wildcard ztunnel-emulator/*.c)
ZT_HDRS := $(wildcard ztunnel-emulator/*.h)
ztunnel-emulator/ztunnel-emulator: $(ZT_SRCS) $(ZT_HDRS) $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(ZT_SRCS) $(LIB) $(LDLIBS_ALL)

tests/unit/test_%: tests/unit/test_%.c tests/unit/tap.h $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_ALL)

tests/helpers/%: tests/helpers/%.c $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_ALL)

# Installs what is missing with apt-get (Debian/Ubuntu); a no-op when all is there.
deps:
	@scripts/deps.sh

# The README walk-thru, narrated; leaves nothing behind.
demo: deps
	@$(MAKE) --no-print-directory all
	scripts/walkthru.sh

# Unit and integration tests; ends with "N passed, N failed". As a plain user
# the runner re-executes itself in a user namespace.
check: deps
	@$(MAKE) --no-print-directory all
	tests/run.sh

test: check

shellcheck:
	shellcheck -S warning scripts/*.sh tests/*.sh tests/integration/*.sh .ci/run

clean:
	rm -f $(COMMON_OBJS) $(LIB) $(PROGS) $(UNIT_TESTS) $(HELPERS)

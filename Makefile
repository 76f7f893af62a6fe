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
# --as-needed: each program loads only the libraries it calls (cni-emulator
# starts once per pod, and every shared library costs start-up time)
LDLIBS_ALL = -Wl,--as-needed $(PKG_LIBS) -lm $(LDLIBS)

COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:.c=.o)
COMMON_HDRS := $(wildcard common/*.h)
LIB := common/libcommon.a

PROGS := cni-emulator/cni-emulator ztunnel-emulator/ztunnel-emulator
UNIT_TESTS := $(patsubst %.c,%,$(wildcard tests/unit/test_*.c))
HELPERS := $(patsubst %.c,%,$(filter-out %-preload.c,$(wildcard tests/helpers/*.c)))
# LD_PRELOAD shims for tests; without sanitizers (they load before the runtime)
PRELOADS := $(patsubst %.c,%.so,$(wildcard tests/helpers/*-preload.c))

.PHONY: all deps demo check test clean shellcheck fuzz sanitize valgrind soak bench

all: $(PROGS) $(UNIT_TESTS) $(HELPERS) $(PRELOADS)

# One object per source; -MMD -MP write each object's header dependencies
# next to it (.d), so a changed header rebuilds exactly what includes it.
DEPFLAGS := -MMD -MP

common/%.o: common/%.c
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(LIB): $(COMMON_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

CNI_SRCS := $(wildcard cni-emulator/*.c)
CNI_HDRS := $(wildcard cni-emulator/*.h)
cni-emulator/cni-emulator: $(CNI_SRCS) $(CNI_HDRS) $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CNI_SRCS) $(LIB) $(LDLIBS_ALL)

# ztunnel-emulator: libzt.a holds every object but main's, so tests and
# fuzzers link the very objects the daemon is made of (HACKING.md).
ZT_SRCS := $(wildcard ztunnel-emulator/*.c ztunnel-emulator/*/*.c)
ZT_HDRS := $(wildcard ztunnel-emulator/*.h ztunnel-emulator/*/*.h)
ZT_OBJS := $(ZT_SRCS:.c=.o)
ZT_MAIN := ztunnel-emulator/main.o
ZT_LIB := ztunnel-emulator/libzt.a

ztunnel-emulator/%.o: ztunnel-emulator/%.c
	$(CC) $(ALL_CFLAGS) -Iztunnel-emulator $(DEPFLAGS) -c -o $@ $<

$(ZT_LIB): $(filter-out $(ZT_MAIN),$(ZT_OBJS))
	rm -f $@
	$(AR) rcs $@ $^

ztunnel-emulator/ztunnel-emulator: $(ZT_MAIN) $(ZT_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(ZT_MAIN) $(ZT_LIB) $(LIB) $(LDLIBS_ALL)

tests/unit/test_%: tests/unit/test_%.c tests/unit/tap.h $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_ALL)

tests/helpers/%: tests/helpers/%.c $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_ALL)

tests/helpers/%-preload.so: tests/helpers/%-preload.c
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARNINGS) -O2 -g -fPIC -shared -o $@ $< -ldl

# Installs what is missing with apt-get (Debian/Ubuntu); a no-op when all is there.
deps:
	@scripts/deps.sh

# The README walk-thru, narrated; leaves nothing behind.
demo: deps
	@$(MAKE) --no-print-directory all
	scripts/walkthru.sh

# Unit and integration tests; ends with "N passed, N failed". As a plain user
# the runner re-executes itself in a user namespace; TEST_FLAGS=--setcap runs
# every test daemon as nobody from a setcap'ed copy (see tests/run.sh --help).
check: deps
	@$(MAKE) --no-print-directory all
	tests/run.sh $(TEST_FLAGS)

test: check

# ---- hardening: fuzzing, sanitizers, valgrind, soak ---------------------------

CLANG ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DZE_VERSION='"$(VERSION)"' -Icommon -Iztunnel-emulator \
	-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)
FUZZ_TARGETS := tests/fuzz/fuzz_zds tests/fuzz/fuzz_dispatch

tests/fuzz/fuzz_zds: tests/fuzz/fuzz_zds.c $(COMMON_SRCS) $(COMMON_HDRS)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRCS) $(PKG_LIBS)

# The daemon's own objects, built again with coverage and sanitizers; the
# fuzzer links them with tests/fuzz/proxy_stub.c in place of proxy.o (netns
# entry and port binding need privileges a fuzzer should not use).
FUZZ_OBJ := tests/fuzz/obj
FUZZ_OBJ_CFLAGS = $(subst -fsanitize=fuzzer,-fsanitize=fuzzer-no-link,$(FUZZ_CFLAGS)) $(DEPFLAGS)
FUZZ_ZT_OBJS := $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(filter-out ztunnel-emulator/main.c \
	ztunnel-emulator/proxy.c,$(ZT_SRCS)))
FUZZ_COMMON_OBJS := $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(COMMON_SRCS))

$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_OBJ_CFLAGS) -c -o $@ $<

$(FUZZ_OBJ)/libzt.a: $(FUZZ_ZT_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_OBJ)/libcommon.a: $(FUZZ_COMMON_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

tests/fuzz/fuzz_dispatch: tests/fuzz/fuzz_dispatch.c tests/fuzz/proxy_stub.c tests/fuzz/proxy_stub.h \
		tests/fuzz/fuzz_common.h $(FUZZ_OBJ)/libzt.a $(FUZZ_OBJ)/libcommon.a
	$(CLANG) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_dispatch.c tests/fuzz/proxy_stub.c \
		$(FUZZ_OBJ)/libzt.a $(FUZZ_OBJ)/libcommon.a $(PKG_LIBS) -lm

# Runs each fuzz target for FUZZ_SECONDS over its corpus in tests/fuzz/corpus/.
fuzz: deps
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# The whole `make check` suite with ASan+UBSan (gcc), then a normal rebuild.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
sanitize: deps
	@$(MAKE) --no-print-directory clean
	@$(MAKE) --no-print-directory all CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)"
	@status=0; ZE_TEST_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tests/run.sh || status=$$?; \
		$(MAKE) --no-print-directory clean >/dev/null; $(MAKE) --no-print-directory all >/dev/null; \
		exit $$status

# Integration tests with the daemon under valgrind memcheck.
valgrind: deps
	@$(MAKE) --no-print-directory all
	tests/valgrind.sh

# 100,000 add/del cycles with hostile requests from several clients; prints figures.
soak: deps
	@$(MAKE) --no-print-directory all
	tests/soak.sh

# Benchmarks (root): handoff cost, daemon Add latency, snapshot throughput,
# scale, relay throughput; prints a table with targets and writes
# tests/bench/results.json. Figures, never timed tests.
bench: deps
	@$(MAKE) --no-print-directory all
	tests/bench/run.sh

shellcheck:
	shellcheck -S warning scripts/*.sh tests/*.sh tests/integration/*.sh .ci/run

clean:
	rm -f $(COMMON_OBJS) $(LIB) $(ZT_OBJS) $(ZT_LIB) $(PROGS) $(UNIT_TESTS) $(HELPERS) \
		$(PRELOADS) $(FUZZ_TARGETS)
	rm -f common/*.d ztunnel-emulator/*.d ztunnel-emulator/*/*.d
	rm -rf tests/fuzz/obj

-include $(wildcard common/*.d ztunnel-emulator/*.d ztunnel-emulator/*/*.d) \
	$(shell find $(FUZZ_OBJ) -name '*.d' 2>/dev/null)

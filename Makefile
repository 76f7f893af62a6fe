# SPDX-License-Identifier: Apache-2.0
# Istio ambient pod-handoff lab emulator: cni-emulator and ztunnel-emulator.

VERSION := 0.1.0

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wformat=2 -Wpointer-arith -Wundef -Wvla
# Recursive (=) so pkg-config only runs when something is compiled, after `make deps`.
# openssl (TLS 1.3, X.509) and libnghttp2 (HTTP/2): HBONE, ztunnel-emulator/hbone/
PKG_MODS := libcap libmnl libmicrohttpd yaml-0.1 openssl libnghttp2
PKG_CFLAGS = $(shell pkg-config --cflags $(PKG_MODS))
PKG_LIBS = $(shell pkg-config --libs $(PKG_MODS))
# Debian's libldns-dev ships no .pc file
LDNS_LIBS := -lldns
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

.PHONY: all deps demo readme-output check test clean shellcheck fuzz sanitize valgrind soak bench bench-quick

all: $(PROGS) $(UNIT_TESTS) $(HELPERS) $(PRELOADS)

# One object per source; -MMD -MP write each object's header dependencies
# next to it (.d), so a changed header rebuilds exactly what includes it.
DEPFLAGS := -MMD -MP

common/%.o: common/%.c
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(LIB): $(COMMON_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# cni-emulator: one object per file under cni-emulator/ (and its folders),
# each with its header dependencies (-MMD -MP), so that a change rebuilds
# only what includes it.
CNI_SRCS := $(wildcard cni-emulator/*.c cni-emulator/*/*.c)
CNI_OBJS := $(CNI_SRCS:.c=.o)
CNI_CFLAGS = -Icni-emulator -Icni-emulator/redirect $(shell pkg-config --cflags jansson)
# jansson (inspect's config_dump reader) is linked statically: cni-emulator
# starts once per pod, and a shared library more costs start-up time.
CNI_LIBS = -Wl,-Bstatic $(shell pkg-config --libs jansson) -Wl,-Bdynamic

cni-emulator/%.o: cni-emulator/%.c
	$(CC) $(ALL_CFLAGS) $(CNI_CFLAGS) -MMD -MP -c -o $@ $<

# no -lmnl: mnl_dl.c loads it when a verb first opens a netlink socket (a
# libmnl call without a forwarder there fails to link, rather than load it again)
cni-emulator/cni-emulator: $(CNI_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CNI_OBJS) $(LIB) $(CNI_LIBS) \
		$(filter-out -lmnl,$(LDLIBS_ALL))

-include $(CNI_OBJS:.o=.d)

# Unit tests of cni-emulator's own code link the program's objects (all but
# main.o), never a copy of its sources.
CNI_LIB := cni-emulator/libcni.a
$(CNI_LIB): $(filter-out cni-emulator/main.o,$(CNI_OBJS))
	rm -f $@
	$(AR) rcs $@ $^

tests/unit/test_cni_%: tests/unit/test_cni_%.c tests/unit/tap.h $(CNI_LIB) $(LIB)
	$(CC) $(ALL_CFLAGS) $(CNI_CFLAGS) $(LDFLAGS) -o $@ $< $(CNI_LIB) $(LIB) $(CNI_LIBS) \
		$(LDLIBS_ALL)

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
	$(CC) $(LDFLAGS) -o $@ $(ZT_MAIN) $(ZT_LIB) $(LIB) $(LDLIBS_ALL) $(LDNS_LIBS)

tests/unit/test_%: tests/unit/test_%.c tests/unit/tap.h $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_ALL)

# The DNS proxy's transport-free core (registry, aliases, answers, id map):
# its unit tests and fuzz target link it alone with libyaml and ldns.
DNS_SRCS := $(addprefix ztunnel-emulator/dns/,registry.c registry_yaml.c registry_schema.c \
	aliases.c answer.c forward.c)
DNS_HDRS := $(wildcard ztunnel-emulator/dns/*.h)
DNS_TESTS := tests/unit/test_registry tests/unit/test_dns_answer
$(DNS_TESTS): tests/unit/%: tests/unit/%.c tests/unit/tap.h $(DNS_SRCS) $(DNS_HDRS) $(LIB) $(COMMON_HDRS)
	$(CC) $(ALL_CFLAGS) -Iztunnel-emulator/dns $(LDFLAGS) -o $@ $< $(DNS_SRCS) $(LIB) \
		$(LDLIBS_ALL) $(LDNS_LIBS)

# HBONE's TLS output buffer, alone with OpenSSL.
tests/unit/test_outbio: tests/unit/test_outbio.c tests/unit/tap.h ztunnel-emulator/hbone/outbio.c \
		ztunnel-emulator/hbone/grow.h \
		ztunnel-emulator/hbone/outbio.h
	$(CC) $(ALL_CFLAGS) -Iztunnel-emulator/hbone $(LDFLAGS) -o $@ $< ztunnel-emulator/hbone/outbio.c \
		$(LDLIBS_ALL)

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

# The README's walk-thru output regenerated from a real run (root).
readme-output: all
	scripts/readme-output.sh

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
FUZZ_TARGETS := tests/fuzz/fuzz_zds tests/fuzz/fuzz_dispatch tests/fuzz/fuzz_dns tests/fuzz/fuzz_plugin \
	tests/fuzz/fuzz_client

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
		$(FUZZ_OBJ)/libzt.a $(FUZZ_OBJ)/libcommon.a $(PKG_LIBS) -lm $(LDNS_LIBS)

# The client role (--connect): zds_client.c and wm.c's per-connection rules.
tests/fuzz/fuzz_client: tests/fuzz/fuzz_client.c tests/fuzz/proxy_stub.c tests/fuzz/proxy_stub.h \
		tests/fuzz/fuzz_common.h $(FUZZ_OBJ)/libzt.a $(FUZZ_OBJ)/libcommon.a
	$(CLANG) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_client.c tests/fuzz/proxy_stub.c \
		$(FUZZ_OBJ)/libzt.a $(FUZZ_OBJ)/libcommon.a $(PKG_LIBS) -lm $(LDNS_LIBS)

# The DNS proxy's query decision and the registry's YAML loader.
tests/fuzz/fuzz_dns: tests/fuzz/fuzz_dns.c tests/fuzz/fuzz_common.h $(DNS_SRCS) $(DNS_HDRS)
	$(CLANG) $(FUZZ_CFLAGS) -Iztunnel-emulator/dns -o $@ $< $(DNS_SRCS) $(PKG_LIBS) $(LDNS_LIBS)

# The agent's control-socket bodies (cni-emulator/agent/plugin.c, with jansson).
tests/fuzz/fuzz_plugin: tests/fuzz/fuzz_plugin.c tests/fuzz/fuzz_common.h cni-emulator/agent/plugin.c \
		cni-emulator/agent/plugin.h common/err.c
	$(CLANG) $(FUZZ_CFLAGS) $(CNI_CFLAGS) -o $@ $< cni-emulator/agent/plugin.c common/err.c \
		$(shell pkg-config --libs jansson)

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

# Benchmarks (root): handoff, Add latency, snapshot, scale, relay, HBONE, DNS;
# each figure beside its target, floor and peer tool; writes
# tests/bench/results.json, appends to tests/bench/history.csv (< 10 min).
# bench-quick: small sizes, the headline ratios only (< 1 min).
bench: deps
	@$(MAKE) --no-print-directory all
	tests/bench/run.sh

bench-quick: deps
	@$(MAKE) --no-print-directory all
	tests/bench/run.sh --quick

shellcheck:
	shellcheck -S warning scripts/*.sh tests/*.sh tests/integration/*.sh .ci/run

clean:
	rm -f $(COMMON_OBJS) $(LIB) $(ZT_OBJS) $(ZT_LIB) $(CNI_OBJS) $(CNI_LIB) $(PROGS) \
		$(UNIT_TESTS) $(HELPERS) $(PRELOADS) $(FUZZ_TARGETS)
	rm -f common/*.d ztunnel-emulator/*.d ztunnel-emulator/*/*.d $(CNI_OBJS:.o=.d)
	rm -rf tests/fuzz/obj

-include $(wildcard common/*.d ztunnel-emulator/*.d ztunnel-emulator/*/*.d) \
	$(shell find $(FUZZ_OBJ) -name '*.d' 2>/dev/null)

# ---- install, uninstall, man pages, help --------------------------------------
# `make install PREFIX=/usr DESTDIR=/tmp/stage`: both programs in BINDIR, the
# lab scripts in $(PKGDATADIR)/scripts (finding the programs through the BINDIR
# recorded in their lib.sh), the man pages (generated and committed: installing
# needs no doc tool) and the bash completion.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
PKGDATADIR ?= $(DATADIR)/ztunnel-emulator
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
INSTALL ?= install
MANPAGES := docs/cni-emulator.1 docs/ztunnel-emulator.8
# the scripts a lab machine runs (deps.sh installs build dependencies: not these)
# (readme-output.sh rewrites a checkout's README: not installed)
SCRIPTS := $(filter-out scripts/deps.sh scripts/readme-output.sh,$(wildcard scripts/*.sh)) scripts/lab-resolver.py
COMPLETIONS := completions/cni-emulator completions/ztunnel-emulator

.PHONY: install uninstall man help

install: $(PROGS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGDATADIR)/scripts \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 755 $(SCRIPTS) $(DESTDIR)$(PKGDATADIR)/scripts/
	sed 's|^ZE_INSTALLED_BINDIR=$$|ZE_INSTALLED_BINDIR=$(BINDIR)|' scripts/lib.sh \
		>$(DESTDIR)$(PKGDATADIR)/scripts/lib.sh
	chmod 644 $(DESTDIR)$(PKGDATADIR)/scripts/lib.sh $(DESTDIR)$(PKGDATADIR)/scripts/walkthru-istio.sh \
		$(DESTDIR)$(PKGDATADIR)/scripts/walkthru-hbone.sh
	$(INSTALL) -m 644 docs/cni-emulator.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 docs/ztunnel-emulator.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 644 $(COMPLETIONS) $(DESTDIR)$(BASHCOMPDIR)/

# Removes exactly what install put there. In a staging DESTDIR it also
# removes the directories left empty, up to DESTDIR; on the live system it
# leaves /usr/local/bin and the like in place.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cni-emulator $(DESTDIR)$(BINDIR)/ztunnel-emulator \
		$(DESTDIR)$(MANDIR)/man1/cni-emulator.1 $(DESTDIR)$(MANDIR)/man8/ztunnel-emulator.8 \
		$(DESTDIR)$(BASHCOMPDIR)/cni-emulator $(DESTDIR)$(BASHCOMPDIR)/ztunnel-emulator
	rm -rf $(DESTDIR)$(PKGDATADIR)
	@if [ -n "$(DESTDIR)" ]; then \
		for d in $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man8 $(BASHCOMPDIR) $(PKGDATADIR); do \
			p="$(DESTDIR)$$d"; \
			while [ "$$p" != "$(DESTDIR)" ] && [ "$${p#$(DESTDIR)}" != "$$p" ] && \
				rmdir "$$p" 2>/dev/null; do p=$${p%/*}; done; \
		done; \
	fi

# The man pages from their scdoc sources (needs scdoc: `make deps`); the
# generated pages are committed, so only a change to a .scd needs this.
man:
	@scripts/deps.sh --doc
	@$(MAKE) --no-print-directory $(MANPAGES)

docs/%: docs/%.scd
	scdoc <$< >$@

help:
	@echo 'Targets:'
	@echo '  all         build both programs, the unit tests and the test helpers (default)'
	@echo '  deps        install the missing build and run-time packages (apt-get)'
	@echo '  check       unit and integration tests (TEST_FLAGS=--setcap: daemons via setcap)'
	@echo '  demo        the README walk-thru, narrated (ZE_ADMIN_ADDR=... moves its ports)'
	@echo '  readme-output  rewrite the README walk-thru output from a real run (root)'
	@echo '  install     programs, scripts, man pages, completion (PREFIX, DESTDIR, BINDIR,'
	@echo '              MANDIR; default PREFIX=/usr/local)'
	@echo '  uninstall   remove what install put there (same variables)'
	@echo '  man         regenerate docs/*.1 and docs/*.8 from their scdoc sources'
	@echo '  shellcheck  lint the shell scripts'
	@echo '  fuzz        run the libFuzzer targets (FUZZ_SECONDS each)'
	@echo '  sanitize    the suite with ASan+UBSan'
	@echo '  valgrind    integration tests with the daemon under valgrind'
	@echo '  soak        100,000 add/del cycles with hostile clients'
	@echo '  bench       benchmarks (root); writes tests/bench/results.json'
	@echo '  bench-quick the headline ratios in under a minute (root)'
	@echo '  clean       remove what the build made'

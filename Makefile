# SPDX-License-Identifier: GPL-2.0
#
# dm-cmk top-level Makefile.
#
#   make                  dm-cmk.ko for KVER (default: running kernel if it
#                         has headers, else the newest installed) + tests
#   make KVER=... / KDIR=...
#   make modules-all      dm-cmk.ko for every installed kernel
#   make lint             W=1, sparse and checkpatch --strict (TAP)
#   make check            lint, host tests, VM tests on every kernel
#   make check-extended   the long soaks check samples (swap under memory
#                         pressure, 5 min per target and kernel)
#   make deps             install the Debian packages everything needs
#   make clean

KVER ?= $(shell scripts/kvers.sh default)
KDIR ?= /lib/modules/$(KVER)/build
export KDIR

CC      ?= gcc
CFLAGS  ?= -O2 -g
CFLAGS  += -Wall -Wextra -D_GNU_SOURCE -Werror=implicit-function-declaration
KSRC    := build/ksrc
TEST_CFLAGS := -O2 -g -Wall -D_GNU_SOURCE -Werror=implicit-function-declaration -isystem $(KSRC)/tools/testing/selftests -Iinclude -Iuserspace/lib
LIB_SRCS    := $(wildcard userspace/lib/*.c)
LIB_OBJS    := $(patsubst %.c,build/%.o,$(LIB_SRCS))
LIB         := build/userspace/libcmk.a
HOST_TESTS  := $(patsubst tests/host/%.c,build/tests/host/%,$(wildcard tests/host/*.c))
GUEST_TESTS := $(patsubst tests/kernel/%.c,build/tests/%,$(wildcard tests/kernel/*.c))

.PHONY: all module modules-all lib tests lint check deps clean

all: module lib tests

module:
	scripts/kbuild.sh $(KVER)

modules-all:
	set -e; for k in $$(scripts/kvers.sh all); do \
		KDIR=/lib/modules/$$k/build scripts/kbuild.sh $$k; done

$(KSRC)/.extracted:
	scripts/ksrc.sh $(KSRC)

tests: modules-all $(GUEST_TESTS) $(HOST_TESTS)

lib: $(LIB)

build/userspace/lib/%.o: userspace/lib/%.c $(wildcard userspace/lib/*.h include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -Iinclude -Iuserspace/lib -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(AR) rcs $@ $^

build/tests/host/%: tests/host/%.c $(LIB) $(KSRC)/.extracted $(wildcard userspace/lib/*.h include/*.h)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(LIB) -lcrypto -lkeyutils -ldevmapper

# Guest-side C tests (run in QEMU by tests/kernel/run-tests.sh).
build/tests/%: tests/kernel/%.c $(wildcard tests/kernel/*.h) $(LIB) \
		$(wildcard userspace/lib/*.h include/*.h) $(KSRC)/.extracted
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(LIB) -lcrypto -lkeyutils -ldevmapper

lint:
	scripts/lint.sh

check:
	scripts/check.sh

# The long matrices check.sh samples (scripts/check-extended.sh).
.PHONY: check-extended
check-extended: all
	scripts/check-extended.sh

deps:
	scripts/deps.sh

clean:
	rm -rf build

# cmkctl, the admin CLI, and its host test (a TAP shell script that
# scripts/check.sh runs from build/tests/host/ like the C tests).
CMKCTL := build/userspace/cmkctl
.PHONY: cmkctl
all: cmkctl
tests: build/tests/host/cmkctl_test
cmkctl: $(CMKCTL)

$(CMKCTL): $(wildcard userspace/cmkctl/*.c) $(LIB) $(wildcard userspace/lib/*.h include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iinclude -Iuserspace/lib -o $@ $(filter %.c,$^) $(LIB) -lcrypto -lkeyutils -ldevmapper

build/tests/host/cmkctl_test: tests/host/cmkctl_test.sh $(CMKCTL)
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

# cmkd, the key daemon.
CMKD := build/userspace/cmkd
.PHONY: cmkd
all: cmkd
cmkd: $(CMKD)

$(CMKD): $(wildcard userspace/cmkd/*.c userspace/cmkd/*.h) $(LIB) $(wildcard userspace/lib/*.h include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -pthread -Iinclude -Iuserspace/lib -o $@ $(filter %.c,$^) $(LIB) -lcrypto -lkeyutils -ldevmapper -ldl

# The embedded vault's key administration tool (scripts/cmk-vault-softhsm
# kek) and the host test of those vault-side events seen through cmkctl.
SOFTHSM_ADMIN := build/userspace/cmk-softhsm-admin
.PHONY: softhsm-admin
all: $(SOFTHSM_ADMIN)
tests: build/tests/host/vault_admin_test
softhsm-admin: $(SOFTHSM_ADMIN)

$(SOFTHSM_ADMIN): userspace/tools/cmk-softhsm-admin.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iinclude -Iuserspace/lib -o $@ $< -ldl

build/tests/host/vault_admin_test: tests/host/vault_admin_test.sh $(CMKCTL) $(SOFTHSM_ADMIN)
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

# cmkd's host test: TAP shell script, run from build/tests/host/ like the rest.
tests: build/tests/host/cmkd_test

# The trust boundary's host test (the disk is the attacker's) and the
# PKCS#11 module it must never see loaded.
tests: build/tests/host/trust_test build/tests/host/modules/marker_pkcs11.so \
	build/tests/host/modules/shim_pkcs11.so build/tests/host/tools/hdr_forge

build/tests/host/trust_test: tests/host/trust_test.sh $(CMKD) $(CMKCTL) build/tests/host/modules/marker_pkcs11.so build/tests/host/tools/hdr_forge
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

build/tests/host/tools/%: tests/host/tools/%.c $(LIB) $(wildcard userspace/lib/*.h include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iinclude -Iuserspace/lib -o $@ $< $(LIB) -lcrypto -lkeyutils -ldevmapper

tests: build/tests/host/vault_faults_test build/tests/host/coredump_test \
	build/tests/host/cmkd_syscalls_test

build/tests/host/cmkd_syscalls_test: tests/host/cmkd_syscalls_test.sh $(CMKD) $(CMKCTL) userspace/cmkd/cmkd.service
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

build/tests/host/coredump_test: tests/host/coredump_test.sh $(CMKCTL) $(CMKD)
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

build/tests/host/vault_faults_test: tests/host/vault_faults_test.sh $(CMKCTL) build/tests/host/modules/shim_pkcs11.so
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

build/tests/host/modules/%.so: tests/host/modules/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

build/tests/host/cmkd_test: tests/host/cmkd_test.sh $(CMKD) $(CMKCTL)
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

# make bench [BENCH_ARGS='--quick | --rounds N --runtime S --size MIB
# --out DIR -k KVER']: dm-cmk against raw brd and dm-crypt in one QEMU guest
# run; report in bench/results/ (bench/bench.sh).
.PHONY: bench bench-tools
bench:
	bench/bench.sh $(BENCH_ARGS)

# bench/cmk-interleave, the interleaved-slices comparison of make bench.
BENCH_TOOLS := build/bench/cmk-interleave
all: bench-tools
bench-tools: $(BENCH_TOOLS)

build/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $<

# The lint check that deps.sh installs every program the scripts run
# (scripts/deps-check.py) and its host test.
tests: build/tests/host/deps_check_test

build/tests/host/deps_check_test: tests/host/deps_check_test.sh scripts/deps-check.py
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

# The guest memory leak scan (tests/vm/leak-scan.sh, one guest boot per
# kernel in scripts/check.sh): the host's DEK unwrap of the volume it
# searches for and the one-pass search of a memory dump; the guest's key
# helper (tests/kernel/leak_addkey.c) is built with the guest tests.
tests: build/tests/host/tools/leak_deks build/tests/host/tools/memscan_find

# The key lifecycle's host test (kek-rotate, vk-rotate, rebind, crash points).
tests: build/tests/host/rotate_test build/tests/host/modules/write_fault.so \
	build/tests/host/tools/dek_digest

build/tests/host/rotate_test: tests/host/rotate_test.sh $(CMKCTL) build/tests/host/modules/write_fault.so build/tests/host/tools/dek_digest
	@mkdir -p $(@D)
	ln -sf ../../../$< $@

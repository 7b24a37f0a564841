# Letterbox: one GNU Makefile for the whole tree.
# SPDX-License-Identifier: ISC
#
# Sources are found by wildcard: common/*.c makes build/libcommon.a, each
# program folder's *.c makes that program, tests/unit/test_*.c make one
# cmocka binary each.  Adding a file needs no edit here.

PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/letterbox
SYSCONFDIR ?= $(PREFIX)/etc/letterbox
DOCDIR     ?= $(PREFIX)/share/doc/letterbox

# SAN=1 builds with AddressSanitizer and UBSan into build/san (make check).
SAN ?= 0
ifeq ($(SAN),1)
B := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
HARDEN :=
else
B := build
SANFLAGS :=
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
HARDEN_LD := -pie -Wl,-z,relro,-z,now
endif

CC      ?= cc
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wmissing-prototypes \
	-Wstrict-prototypes -Wno-unused-parameter
PKGS    := openssl libsasl2 lmdb libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
	echo -lssl -lcrypto -lsasl2 -llmdb -lsodium)
# Debian 12's libev ships no .pc file.
EV_LIBS := $(shell pkg-config --libs libev 2>/dev/null || echo -lev)
CPPFLAGS += -I. -D_GNU_SOURCE -DLB_LIBEXECDIR='"$(LIBEXECDIR)"' \
	-DLB_SYSCONFDIR='"$(SYSCONFDIR)"'
CFLAGS  += -std=c11 $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) $(PKG_CFLAGS) -pthread
LDFLAGS += $(SANFLAGS) $(HARDEN_LD) -pthread
# -lcares: letterbox-queued's resolver (smtpd/queue_dns.c).
LDLIBS  := $(PKG_LIBS) $(EV_LIBS) -lcares -lz -lm

PROGRAMS := letterboxd:master letterbox-authd:authd letterbox:cli \
	letterbox-smtpd:smtpd letterbox-queued:queued \
	letterbox-mda:mda letterbox-imapd:imapd letterbox-pop3d:pop3d

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
LIBCOMMON  := $(B)/libcommon.a

# A program's sources: its folder's *.c.  smtpd/ holds two programs:
# files named queue*.c belong to letterbox-queued, the rest to smtpd.
define prog_srcs
$(if $(filter queued,$(1)),$(wildcard smtpd/queue*.c),\
$(if $(filter smtpd,$(1)),$(filter-out smtpd/queue%,$(wildcard smtpd/*.c)),\
$(wildcard $(1)/*.c)))
endef
# Its main(): a program exists only once that file does (no placeholders).
prog_main = $(if $(filter queued,$(1)),smtpd/queue_main.c,$(1)/main.c)

BUILT :=
define prog_rule
$(2)_SRC := $(call prog_srcs,$(2))
$(2)_OBJ := $$($(2)_SRC:%.c=$(B)/obj/%.o)
ifneq ($$(wildcard $(call prog_main,$(2))),)
BUILT += $(B)/$(1)
$(B)/$(1): $$($(2)_OBJ) $(LIBCOMMON)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$($(2)_OBJ) $(LIBCOMMON) $$(LDLIBS)
endif
endef
$(foreach p,$(PROGRAMS),$(eval $(call prog_rule,$(word 1,$(subst :, ,$(p))),$(word 2,$(subst :, ,$(p))))))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all check unit proto fuzz bench run install clean deps programs
all: programs

programs: $(BUILT)

# V=1 shows whole command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

# Unit tests may link a daemon's own objects: test_authd_*.c links every
# authd/*.c object but main.o, and likewise for the other program folders.
unit_dir = $(firstword $(subst _, ,$(1)))
unit_objs = $(if $(filter authd cli master smtpd mda imapd pop3d,$(call unit_dir,$(1))),\
	$(patsubst %.c,$(B)/obj/%.o,$(filter-out %/main.c %/queue_main.c,\
	$(wildcard $(call unit_dir,$(1))/*.c))))
.SECONDEXPANSION:
$(B)/tests/test_%: tests/unit/test_%.c $(LIBCOMMON) $$(call unit_objs,$$*)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< \
		$(call unit_objs,$*) $(LIBCOMMON) $(LDLIBS) -lcmocka

deps:
	@scripts/deps.sh

# make check: everything built with ASan/UBSan, then unit, then protocol.
check: deps
	$(MAKE) SAN=1 programs unit-build
	$(MAKE) SAN=1 unit
	$(MAKE) SAN=1 proto

unit-build: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

proto:
	LB_BUILD=$(CURDIR)/$(B) /usr/bin/python3 -m pytest -q -p no:cacheprovider \
		tests/proto $(PYTEST_ARGS)

fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

bench: programs
	@scripts/bench.sh $(BENCH)

run: deps programs
	@scripts/run.sh $(CURDIR)/$(B)

install: programs
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(B)/letterboxd $(DESTDIR)$(SBINDIR)/letterboxd
	install -m 0755 $(B)/letterbox $(DESTDIR)$(BINDIR)/letterbox
	set -e; for p in $(filter-out $(B)/letterboxd $(B)/letterbox,$(BUILT)); do \
		install -m 0755 $$p $(DESTDIR)$(LIBEXECDIR)/; done
	install -m 0644 conf/letterbox.conf.example $(DESTDIR)$(SYSCONFDIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# rootfs-update: signed A/B root filesystem updates with dm-verity.
# Plain GNU Make. Each component folder builds a static library from its
# .c files and a tool from its main.c; tests/unit/test_*.c are cmocka tests.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc

ifeq ($(SANITIZE),1)
B       := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B       := build
SANFLAGS :=
endif

PKGS    := libcryptsetup blkid openssl libcurl libzstd libubootenv zlib uuid
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WERROR  := $(if $(CI),-Werror,)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu17 -Wall -Wextra $(WERROR) -Wno-unused-parameter \
           -Wshadow -Wformat=2 -Wvla -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
           -fstack-protector-strong -I. $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS) -pthread
LDLIBS  += $(PKG_LIBS)

# Library order matters for static linking: users first.
COMPONENTS := installer initramfs images bootctl verity common
TOOLS := verity/rootfs-verity images/rootfs-image bootctl/rootfs-bootctl \
         installer/rootfs-install initramfs/rootfs-init

lib_srcs = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
lib_objs = $(patsubst %.c,$(B)/%.o,$(call lib_srcs,$(1)))
LIBS := $(foreach c,$(COMPONENTS),$(if $(call lib_srcs,$(c)),$(B)/lib$(c).a))

# Which libraries each tool links (dependencies point one way).
deps_verity    := verity common
deps_images    := images verity common
deps_bootctl   := bootctl verity common
deps_installer := installer bootctl verity common
deps_initramfs := initramfs bootctl verity common
tool_libs = $(foreach c,$(deps_$(1)),$(if $(call lib_srcs,$(c)),$(B)/lib$(c).a))

BINS := $(foreach t,$(TOOLS),$(if $(wildcard $(dir $(t))main.c),$(B)/bin/$(notdir $(t))))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)

all: $(BINS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

define lib_rule
$(B)/lib$(1).a: $(call lib_objs,$(1))
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
endef
$(foreach c,$(COMPONENTS),$(eval $(call lib_rule,$(c))))

define tool_rule
$(B)/bin/$(notdir $(1)): $(B)/$(dir $(1))main.o $(call tool_libs,$(patsubst %/,%,$(dir $(1))))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(if $(wildcard $(dir $(t))main.c),$(eval $(call tool_rule,$(t)))))

# A unit test may name extra link flags (for -Wl,--wrap fault injection)
# in tests/unit/test_NAME.ldflags.
$(B)/tests/%: $(B)/tests/unit/%.o $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(shell cat tests/unit/$*.ldflags 2>/dev/null) -o $@ $< $(LIBS) $(LDLIBS) $(CMOCKA_LIBS)

tests: $(UNIT_BINS) $(BINS)

# The tests that need root (loop-free, but they use apt-installed tools,
# nginx and qemu) run in CI, which is root; as another user they fail
# loudly rather than skip.
check: deps-if-root
	@$(MAKE) --no-print-directory tests
	@B=$(B) SANITIZE=$(SANITIZE) bash tests/run.sh

check-unit: tests
	@B=$(B) bash tests/run.sh unit

fuzz:
	@mkdir -p $(B)/fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  echo "clang fuzz $$n"; \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -I. $(PKG_CFLAGS) -D_GNU_SOURCE \
	    -o $(B)/fuzz/$$n $$f $(foreach c,initramfs bootctl verity common,$(call lib_srcs,$(c))) $(PKG_LIBS) -pthread || exit 1; done

bench: all
	bash bench/verity
	bash bench/install

demo: deps-if-root
	@$(MAKE) --no-print-directory all
	@B=$(B) bash tests/lib/demo.sh

DEBS := build-essential pkg-config libcryptsetup-dev cryptsetup-bin libblkid-dev \
        libssl-dev openssl libcurl4-openssl-dev libcmocka-dev libzstd-dev zstd zlib1g-dev \
        libubootenv-dev libubootenv-tool u-boot-tools grub-common \
        e2fsprogs squashfs-tools erofs-utils dosfstools mtools gdisk fdisk \
        busybox-static cpio kmod xz-utils qemu-system-x86 linux-image-amd64 \
        ovmf grub-efi-amd64-bin nginx curl python3 uuid-dev time \
        softhsm2 libengine-pkcs11-openssl u-boot-qemu

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing $$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: run as root: apt-get install -y $$missing"; fi

deps-if-root:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory deps; fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/rootfs-update
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	@# Installed under our own name: Debian's initramfs-tools owns mkinitramfs.
	$(if $(wildcard initramfs/mkinitramfs),install -m 0755 initramfs/mkinitramfs $(DESTDIR)$(PREFIX)/bin/rootfs-mkinitramfs)
	@for m in $(wildcard docs/man/*.[1-8]); do s=$${m##*.}; \
	  install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
	  install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	@for f in $(wildcard installer/*.conf.example bootctl/grub/grub.cfg bootctl/uboot/boot.cmd); do \
	  install -m 0644 $$f $(DESTDIR)$(PREFIX)/share/rootfs-update/; done
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	@for f in $(wildcard bootctl/systemd/* installer/systemd/*); do \
	  install -m 0644 $$f $(DESTDIR)$(PREFIX)/lib/systemd/system/; done

clean:
	rm -rf build build-san

.PHONY: all check check-unit tests fuzz bench demo deps deps-if-root install clean
.DELETE_ON_ERROR:
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)

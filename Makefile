# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# v6trace build. `make` builds ./v6trace; `make help` lists the targets.

HOST_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/mips.*/mips/' -e 's/riscv64/riscv/')
ARCH := $(HOST_ARCH)
# ARCH=arm64 on another machine: a cross build with Debian's multiarch
# toolchain (CROSS=aarch64-linux-gnu-, the default) and :arm64 libraries
# (CROSS_DEPS), in its own output directory, so the builds never mix.
ifneq ($(ARCH),$(HOST_ARCH))
ifeq ($(ARCH),arm64)
CROSS ?= aarch64-linux-gnu-
endif
OUTPUT ?= .output/$(ARCH)
BIN ?= $(OUTPUT)/v6trace
endif
ifneq ($(CROSS),)
ifeq ($(origin CC),default)
CC := $(CROSS)gcc
endif
endif
# The kernel types the BPF side is compiled against, per architecture
# (struct pt_regs differs): vmlinux/ for x86, vmlinux/arm64/ for arm64.
VMLINUX_DIR := vmlinux$(if $(filter-out x86,$(ARCH)),/$(ARCH))
CROSS_DEPS := gcc-aarch64-linux-gnu libc6-dev:arm64 libbpf-dev:arm64 libelf-dev:arm64 \
	zlib1g-dev:arm64 libzstd-dev:arm64 libcap-ng-dev:arm64 libmnl-dev:arm64 liburing-dev:arm64 \
	libjson-c-dev:arm64

OUTPUT ?= .output
CLANG ?= clang
BPFTOOL ?= bpftool
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0
BIN ?= v6trace

# -mcpu=v3 (ALU32, JMP32) is understood by every kernel we support (>= 5.1)
# and pins the instruction set whichever clang builds it.
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(VMLINUX_DIR) -Ibpf
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes
CFLAGS ?= -g -O2
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -DV6TRACE_VERSION='"$(VERSION)"' \
	-I$(OUTPUT) -Ibpf -Iuser -MMD -MP
# STATIC=1: fully static (the qemu guests). Debian 12 ships no libmnl.a, so
# such a build has no socket snapshot (--snapshot, held_by) unless one is found.
# STATIC=libs: every library static but the C library and libmnl (the package).
LDLIBS := -ljson-c -lbpf -lelf -lz -lcap-ng -lmnl
ifeq ($(STATIC),1)
LDFLAGS += -static
ifeq ($(shell $(CC) -print-file-name=libmnl.a),libmnl.a)
LDLIBS := -ljson-c -lbpf -lelf -lz -lcap-ng -lzstd
ALL_CFLAGS += -DV6T_NO_SOCKDIAG
else
LDLIBS += -lzstd
endif
else ifeq ($(STATIC),libs)
LDLIBS := -Wl,-Bstatic -ljson-c -lbpf -lelf -lz -lzstd -lcap-ng -Wl,-Bdynamic -lmnl
endif
# libevent's HTTP server (evhttp) serves --metrics-listen. Debian 12's
# libevent-dev cannot be installed for two architectures at once, so a cross
# build (ARCH=arm64 on x86_64: the arm64 guests) finds none and has no HTTP
# endpoint: --metrics-listen then says so. A native build on arm64 has it.
ifeq ($(shell $(CC) -print-file-name=libevent_extra.a),libevent_extra.a)
ALL_CFLAGS += -DV6T_NO_HTTP
else ifeq ($(STATIC),libs)
LDLIBS := -Wl,-Bstatic -levent_extra -levent_core $(LDLIBS)
else
LDLIBS := -levent_extra -levent_core $(LDLIBS)
endif

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

USER_LIB_SRCS := user/helper_proto.c user/format.c user/classify.c user/summary.c user/cgroup.c user/containers.c \
	user/output.c user/metrics.c
USER_SRCS := user/v6trace.c user/cli.c user/loader.c user/core_btf.c user/command.c user/sockdiag.c user/proc_owners.c \
	user/holders.c user/helper.c user/lookups.c user/listeners.c user/sockets.c user/deploy_report.c user/netns.c \
	user/memcg.c user/snapshot.c user/events.c user/loop.c user/exporter.c user/metrics_http.c $(USER_LIB_SRCS)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(USER_SRCS))
LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(USER_LIB_SRCS))

.DELETE_ON_ERROR:
.PHONY: all clean run test test-vm deb bench soak fuzz FORCE test-unit test-integration test-asan deps install help format \
	format-check vmlinux image

all: $(BIN)

help:
	@echo "make               build ./v6trace (STATIC=1 for a static binary, V=1 verbose)"
	@echo "make ARCH=arm64    cross-build .output/arm64/v6trace (CROSS=aarch64-linux-gnu-)"
	@echo "sudo make run      install missing Debian packages, build, run v6trace"
	@echo "sudo make test     install missing Debian packages, build, run every test"
	@echo "make test-unit     unit tests only (no root)"
	@echo "sudo make test-asan  unit tests and end-to-end runs built with ASan and UBSan"
	@echo "make install       install to \$$(DESTDIR)\$$(PREFIX)"
	@echo "make image         an OCI image (deploy/Containerfile) in .output/image/v6trace-oci.tar"
	@echo "make deb           build a Debian package in .output/deb/ (ARCH=arm64: .output/arm64/deb/)"
	@echo "make test-vm       the qemu kernel matrix, x86_64 and arm64 (VM_ARCH=x86_64 or arm64:"
	@echo "                   one half; KERNEL=path/to/vmlinuz for another kernel of VM_ARCH)"
	@echo "make fuzz          fuzz the decoder and formatters for FUZZ_TIME seconds (600)"
	@echo "sudo make soak     the churn soak for SOAK_MINUTES (30): memory stays bounded"

$(OUTPUT) $(OUTPUT)/tests:
	$(Q)mkdir -p $@

$(OUTPUT)/v6trace.bpf.o: bpf/v6trace.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MT $@ -MF $@.d -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/v6trace.skel.h: $(OUTPUT)/v6trace.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name v6trace_bpf > $@

# The same programs without the casts that need Linux 6.2, for older kernels
# (V6T_NO_CAST: see bpf/core_fixes.bpf.h); the loader opens it through the
# skeleton above, whose layout it shares.
$(OUTPUT)/v6trace_nocast.bpf.o: bpf/v6trace.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DV6T_NO_CAST -MMD -MP -MT $@ -MF $@.d -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/v6trace_nocast.skel.h: $(OUTPUT)/v6trace_nocast.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name v6trace_nocast_bpf > $@

$(OUTPUT)/loader.o: $(OUTPUT)/v6trace.skel.h $(OUTPUT)/v6trace_nocast.skel.h

# What the objects and the binary were built with (STATIC=1, STATIC=libs or
# neither, CC, CFLAGS): when it changes, everything is built again, so
# `make STATIC=1` after `make` (and the other way round) builds what it says.
BUILD_FLAGS := $(CC) $(ALL_CFLAGS) | $(LDFLAGS) $(LDLIBS)
$(OUTPUT)/build-flags: FORCE | $(OUTPUT)
	$(Q)echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@

$(OUTPUT)/%.o: user/%.c $(OUTPUT)/build-flags | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BIN): $(USER_OBJS) $(OUTPUT)/build-flags
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(USER_OBJS) $(LDLIBS) -o $@

# The static build the qemu guests run, in its own object directory.
$(OUTPUT)/static/v6trace: FORCE
	$(Q)$(MAKE) --no-print-directory STATIC=1 OUTPUT=$(OUTPUT)/static BIN=$@ $@

# The qemu guests' v6trace: the Debian package's link (STATIC=libs: every
# library static but the C library and libmnl, which tools/vm-run packs into
# the initramfs with the dynamic loader), so --snapshot and held_by work there.
$(OUTPUT)/guest/v6trace: FORCE
	$(Q)$(MAKE) --no-print-directory STATIC=libs OUTPUT=$(OUTPUT)/guest BIN=$@ $@

FORCE:

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/tests/*.d)

# ---- tests -------------------------------------------------------------

$(OUTPUT)/tests/%.o: tests/%.c | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# the formatters, and the CO-RE target (user/core_btf.c, libbpf)
$(OUTPUT)/tests/unit_tests: $(OUTPUT)/tests/unit_tests.o $(LIB_OBJS) $(OUTPUT)/core_btf.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lcmocka -ljson-c -lbpf -o $@

# The workload runs in the qemu guests too, so it is always static.
$(OUTPUT)/tests/workload: $(OUTPUT)/tests/workload.o $(OUTPUT)/tests/facts.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -static $^ -o $@

# The sockets the guests' snapshot and held_by tests hold (tests/snapshot.sh).
$(OUTPUT)/tests/holder: $(OUTPUT)/tests/holder.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -static $^ -o $@

# A thread that changes a bind's fd or sockaddr during the call (tests/races.py).
$(OUTPUT)/tests/races: $(OUTPUT)/tests/races.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -pthread -o $@

# The io_uring scenarios (liburing), static for the guests too.
$(OUTPUT)/tests/uring: $(OUTPUT)/tests/uring.o $(OUTPUT)/tests/facts.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -static $^ -luring -o $@

# ---- benchmarks (tools/bench) ------------------------------------------

# static, so the qemu guests can run them too
$(OUTPUT)/bench/storm: tools/bench/storm.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -static $< -o $@

$(OUTPUT)/bench/progstats: tools/bench/progstats.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -static $< -lbpf -lelf -lz -lzstd -o $@

# the hooks tracepoint mode could use, priced by make bench (tools/bench/hooks.bpf.c)
$(OUTPUT)/bench/hooks.bpf.o: tools/bench/hooks.bpf.c bpf/v6trace.h bpf/deliver.bpf.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/bench/hooks.skel.h: $(OUTPUT)/bench/hooks.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name hooks_bpf > $@

$(OUTPUT)/bench/hooks: tools/bench/hooks.c $(OUTPUT)/bench/hooks.skel.h bpf/v6trace.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -I$(OUTPUT)/bench -Ibpf $< -lbpf -o $@

$(OUTPUT)/bench/format: tools/bench/format.c $(LIB_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -Ibpf -Iuser $^ -o $@

bench: deps
	$(Q)tools/install-deps bpftrace busybox-static cpio xz-utils zstd $(QEMU_DEPS)
	$(Q)$(MAKE) --no-print-directory v6trace $(OUTPUT)/bench/storm $(OUTPUT)/bench/format \
		$(OUTPUT)/bench/progstats $(OUTPUT)/bench/hooks \
		$(OUTPUT)/guest/v6trace $(OUTPUT)/tests/workload
	$(Q)tools/fetch-qemu
	$(Q)tools/bench/run

# The long churn soak (tests/soak.py): SOAK_MINUTES of short-lived processes
# binding in cgroups made and removed; the tracer's resident set at the end
# within 1 MiB of the set after one minute.
SOAK_MINUTES ?= 30
soak: deps
	$(Q)$(MAKE) --no-print-directory v6trace
	$(Q)SOAK_MINUTES=$(SOAK_MINUTES) python3 tests/soak.py

# Sanitizer build of the unit tests: its own object directory.
ASAN_OUT := $(OUTPUT)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
$(ASAN_OUT)/unit_tests: tests/unit_tests.c $(USER_LIB_SRCS) user/core_btf.c bpf/v6trace.h user/*.h
	$(call msg,ASAN,$@)
	$(Q)mkdir -p $(ASAN_OUT)
	$(Q)$(CC) -g -O1 $(ASAN_FLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -Ibpf -Iuser \
		-DV6TRACE_VERSION='"$(VERSION)"' tests/unit_tests.c $(USER_LIB_SRCS) user/core_btf.c -lcmocka -ljson-c -lbpf -o $@

# The tracer itself under ASan and UBSan, its objects in $(ASAN_OUT)/obj
# (the BPF skeletons are the ordinary build's).
ASAN_OBJS := $(patsubst user/%.c,$(ASAN_OUT)/obj/%.o,$(USER_SRCS))
$(ASAN_OUT)/obj/%.o: user/%.c $(OUTPUT)/build-flags | $(OUTPUT)/v6trace.skel.h $(OUTPUT)/v6trace_nocast.skel.h
	$(call msg,ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -g -O1 $(ASAN_FLAGS) $(filter-out -O2,$(ALL_CFLAGS)) -MF $(@:.o=.d) -c $< -o $@

$(ASAN_OUT)/v6trace: $(ASAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) -g $(ASAN_FLAGS) $(ASAN_OBJS) $(LDLIBS) -o $@

-include $(wildcard $(ASAN_OUT)/obj/*.d)

# The unit tests and end-to-end runs of the tracer, both built with ASan and
# UBSan: any report fails them (tests/asan.sh). Part of `make test`.
test-asan: $(ASAN_OUT)/unit_tests $(ASAN_OUT)/v6trace $(OUTPUT)/tests/workload
	$(Q)tests/asan.sh

test-unit: $(OUTPUT)/tests/unit_tests
	$(OUTPUT)/tests/unit_tests

# libFuzzer over the decoder's input and both formatters (JSON parsed by json-c)
FUZZ_TIME ?= 600
$(OUTPUT)/fuzz/fuzz_format: tests/fuzz_format.c $(USER_LIB_SRCS) bpf/v6trace.h user/*.h
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(OUTPUT)/fuzz/corpus
	$(Q)clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(WARN) \
		-std=gnu11 -D_GNU_SOURCE -Ibpf -Iuser -DV6TRACE_VERSION='"$(VERSION)"' \
		tests/fuzz_format.c $(USER_LIB_SRCS) -ljson-c -o $@

fuzz: deps $(OUTPUT)/fuzz/fuzz_format
	$(OUTPUT)/fuzz/fuzz_format -max_total_time=$(FUZZ_TIME) -max_len=1024 \
		$(OUTPUT)/fuzz/corpus

deps:
	$(Q)tools/install-deps

run: deps
	$(Q)$(MAKE) --no-print-directory v6trace
	./v6trace $(ARGS)

test: deps
	$(Q)$(MAKE) --no-print-directory v6trace $(OUTPUT)/tests/unit_tests $(ASAN_OUT)/unit_tests \
		$(ASAN_OUT)/v6trace $(OUTPUT)/tests/workload $(OUTPUT)/tests/uring $(OUTPUT)/tests/races \
		$(OUTPUT)/fuzz/fuzz_format
	$(Q)tests/run

# The qemu kernel matrix; KERNEL=path/to/vmlinuz boots that kernel instead.
# The emulator is qemu 10 from bookworm-backports (tools/fetch-qemu), unpacked
# and run on Debian 12's libraries and firmware packages: QEMU_DEPS.
# A kernel that could not be fetched fails the matrix (SKIP_MISSING=1: a skip).
# Both architectures (VM_ARCH): x86_64 guests run the native build, arm64 ones
# (qemu-system-aarch64 -M virt) the cross build in $(OUTPUT)/arm64.
VM_ARCH ?= x86_64,arm64
# KERNEL=path: one kernel, x86_64 unless VM_ARCH=arm64
KERNEL_ARCH = $(if $(filter arm64,$(VM_ARCH)),arm64,x86_64)
QEMU_DEPS := seabios ipxe-qemu libaio1 libasound2 libbpf1 libbrlapi0.8 libc6 libcacard0 \
	libcap-ng0 libcapstone4 libfdt1 libfuse3-3 libglib2.0-0 libgmp10 libgnutls30 libhogweed6 \
	libibverbs1 libjpeg62-turbo libncursesw6 libnettle8 libnuma1 libpixman-1-0 libpmem1 \
	libpng16-16 librdmacm1 libsasl2-2 libseccomp2 libslirp0 libtinfo6 libudev1 liburing2 \
	libusb-1.0-0 libusbredirparser1 libvdeplug2 libzstd1 zlib1g
test-vm: deps
	$(Q)tools/install-deps busybox-static cpio xz-utils zstd $(QEMU_DEPS) \
		$(if $(findstring arm64,$(VM_ARCH)),$(CROSS_DEPS))
	$(Q)$(MAKE) --no-print-directory $(OUTPUT)/guest/v6trace $(OUTPUT)/tests/workload \
		$(OUTPUT)/tests/uring $(OUTPUT)/tests/holder
ifneq ($(findstring arm64,$(VM_ARCH)),)
	$(Q)$(MAKE) --no-print-directory ARCH=arm64 OUTPUT=$(OUTPUT)/arm64 \
		$(OUTPUT)/arm64/guest/v6trace $(OUTPUT)/arm64/tests/workload \
		$(OUTPUT)/arm64/tests/uring $(OUTPUT)/arm64/tests/holder
endif
	$(Q)tools/fetch-qemu
ifeq ($(KERNEL),)
	$(Q)$(if $(findstring x86_64,$(VM_ARCH)),tools/fetch-kernels)
	$(Q)$(if $(findstring arm64,$(VM_ARCH)),tools/fetch-kernels --arch arm64)
	$(Q)tools/vm-run --arch $(VM_ARCH) $(if $(SKIP_MISSING),,--require-all)
else
	$(Q)tools/vm-run --arch $(KERNEL_ARCH) --kernel $(KERNEL)
endif

format:
	clang-format -i bpf/*.c bpf/*.h user/*.c user/*.h tests/*.c

format-check:
	clang-format --dry-run --Werror bpf/*.c bpf/*.h user/*.c user/*.h tests/*.c

# vmlinux/vmlinux.h from this machine's kernel; for another architecture
# (ARCH=arm64) from the BTF cut out of a Debian kernel of VMLINUX_SUITE
# (its vmlinuz is not ELF: tools/extract-btf).
VMLINUX_SUITE ?= bookworm-backports
vmlinux:
ifeq ($(ARCH),$(HOST_ARCH))
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX_DIR)/vmlinux.h
else
	tools/fetch-kernels --arch $(ARCH) $(VMLINUX_SUITE)
	mkdir -p $(OUTPUT)
	tools/extract-btf tools/.cache/kernels-$(ARCH)/$(VMLINUX_SUITE)/vmlinuz $(OUTPUT)/vmlinux.btf
	$(BPFTOOL) btf dump file $(OUTPUT)/vmlinux.btf format c > $(VMLINUX_DIR)/vmlinux.h
endif

UNITDIR ?= $(PREFIX)/lib/systemd/system
install: v6trace
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(PREFIX)/share/doc/v6trace
	install -m 0755 v6trace $(DESTDIR)$(PREFIX)/sbin/v6trace
	install -m 0644 doc/v6trace.8 $(DESTDIR)$(PREFIX)/share/man/man8/v6trace.8
	install -m 0644 doc/v6trace.schema.json $(DESTDIR)$(PREFIX)/share/doc/v6trace/
	install -m 0644 contrib/v6trace.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/v6trace
	sed 's|/usr/sbin/v6trace|$(PREFIX)/sbin/v6trace|' contrib/v6trace.service > \
		$(DESTDIR)$(UNITDIR)/v6trace.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/v6trace.service

# A Debian package built by Debian's own tools from a copy of this tree;
# ARCH=arm64: cross-built (dpkg-buildpackage -a arm64) into .output/arm64/deb.
DEB_OUT := $(OUTPUT)/deb
DEB_CROSS := $(if $(filter-out $(HOST_ARCH),$(ARCH)),-a $(ARCH))
deb:
	$(Q)tools/install-deps dpkg-dev debhelper $(if $(DEB_CROSS),$(CROSS_DEPS))
	$(Q)rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	$(Q)tar --exclude=./.git --exclude=./.output --exclude=./tools/.cache \
		--exclude=./tests/.out --exclude=./v6trace -cf - . | tar -xf - -C $(DEB_OUT)/src
	$(Q)cd $(DEB_OUT)/src && dpkg-buildpackage $(DEB_CROSS) -b -us -uc > ../build.log 2>&1 || \
		{ tail -n 30 ../build.log; exit 1; }
	@ls $(DEB_OUT)/*.deb

# The OCI image, built by buildah from the guest link of v6trace (every library
# static but the C library and libmnl) and those two libraries' files, in a
# throw-away store: the archive is the output, loadable by podman, docker,
# skopeo or ctr anywhere. buildah's chroot isolation needs no daemon.
IMAGE_OUT := $(OUTPUT)/image
IMAGE_NAME ?= localhost/v6trace:$(VERSION)
image: $(OUTPUT)/guest/v6trace
	$(Q)tools/install-deps buildah
	$(Q)rm -rf $(IMAGE_OUT) && mkdir -p $(IMAGE_OUT)/rootfs/usr/sbin
	$(Q)install -m 0755 -s $(OUTPUT)/guest/v6trace $(IMAGE_OUT)/rootfs/usr/sbin/v6trace
	$(Q)for lib in $$(ldd $(OUTPUT)/guest/v6trace | grep -o '/[^ ]*'); do \
		mkdir -p $(IMAGE_OUT)/rootfs$$(dirname $$lib) && cp -L $$lib $(IMAGE_OUT)/rootfs$$lib; done
	$(Q)cp deploy/Containerfile $(IMAGE_OUT)/
	$(call msg,IMAGE,$(IMAGE_OUT)/v6trace-oci.tar)
	$(Q)store="--root $(CURDIR)/$(IMAGE_OUT)/store --runroot $(CURDIR)/$(IMAGE_OUT)/run --storage-driver vfs"; \
		buildah $$store bud -q --isolation chroot --layers=false -t $(IMAGE_NAME) \
			-f $(IMAGE_OUT)/Containerfile $(IMAGE_OUT) >/dev/null && \
		buildah $$store push -q $(IMAGE_NAME) oci-archive:$(IMAGE_OUT)/v6trace-oci.tar:$(IMAGE_NAME); \
		rc=$$?; buildah $$store rmi -a -f >/dev/null 2>&1; rm -rf $(IMAGE_OUT)/store $(IMAGE_OUT)/run; exit $$rc

clean:
	rm -rf $(OUTPUT) v6trace

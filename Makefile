# Makefile — build, test, install and benchmark the imitation-learning tools.
#
#   make            install missing Debian packages (make deps), build every tool
#   make test       build, run the C unit tests and the bats tests, print "N passed, N failed"
#   make check-asan the same tests on an AddressSanitizer+UBSan build
#   make fuzz       libFuzzer campaigns on every reader, FUZZ_SECONDS each (clang, make fuzz-deps)
#   make bench      benchmarks under bench/ (not tests; compare with PyTorch/h5py where installed)
#   make demo       record -> train -> evaluate a small ACT policy (pipelines/act_sim.mk, runs/demo)
#   make install PREFIX=/usr/local DESTDIR=   (install-lib: only libilt.so, ilt.h, ilt.pc, man3)
#
# Sources are discovered: lib/**/*.c go into one static library (build/libilt.a), every
# tools/<name>.c becomes build/bin/<name>, every tests/unit/test_*.c becomes a unit test.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
# The library is built for x86-64-v3 (AVX2 and FMA: Intel since Haswell, AMD since Excavator
# and Zen), not for the build machine: the matrix-product kernels (lib/nn/gemm_tiles.c) carry
# their own AVX-512 and AVX2 variants (target attributes) and pick one at run time from the
# CPU, so one binary runs the 512-bit tile where the CPU has AVX-512F and the 256-bit one
# elsewhere (ILT_KERNEL forces a narrower one, lib/nn/kernels.h). ARCH=-march=native tunes the
# rest for the build machine; ARCH= (empty) builds baseline x86-64 code (the engine's other
# AVX2 loops then run in plain C, the kernels still choose at run time).
ARCH    ?= -march=x86-64-v3
# -O3: GCC 12 vectorises no loop of unknown trip count at -O2 (the engine's elementwise, norm
# and layout loops); without -ffast-math the vectorised loops compute the same floats.
# -fno-math-errno (in CFLAGS below): nothing reads errno after a math call, and with it sqrtf
# vectorises (AdamW's step).
OPT     ?= -O3
VERSION := 0.1.0

# Debian packages the build, the tests and the benchmarks' Python side need.
DEB_PACKAGES := build-essential pkg-config libhdf5-dev hdf5-tools libarchive-dev \
	libopenblas-dev libmujoco-dev libosmesa6-dev libavcodec-dev libavformat-dev \
	libavutil-dev libswscale-dev ffmpeg parallel bats mandoc gnuplot-nox jq \
	python3-numpy python3-h5py libopenmpi-dev openmpi-bin libjansson-dev python3-torch python3-torchvision
# Only `make fuzz` needs these (clang with libFuzzer); make test runs the harnesses' regression
# inputs through a runner built with $(CC).
FUZZ_DEB_PACKAGES := clang-14 libclang-rt-14-dev

PKG_MODULES := hdf5 libarchive openblas jansson osmesa libavcodec libavformat libavutil libswscale

ifeq ($(filter deps clean,$(MAKECMDGOALS)),)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_MODULES) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKG_MODULES) 2>/dev/null)
endif

# Data-parallel training over MPI (lib/train/dist.c) with Open MPI, found through pkg-config;
# MPI=0 (or no Open MPI installed) builds without it: the trainers then run as one process and
# refuse to start as one of several under mpirun. Tools that never call MPI do not link it.
ifeq ($(filter deps clean,$(MAKECMDGOALS)),)
MPI ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
endif
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c) -DILT_MPI
MPI_LIBS   := -Wl,--push-state,--as-needed $(shell pkg-config --libs ompi-c) -Wl,--pop-state
endif

WARN     := -Wall -Wextra -Wno-unused-parameter
CPPFLAGS += -Ilib -Iinclude -D_GNU_SOURCE -DILT_VERSION='"$(VERSION)"' $(MPI_CFLAGS)
CFLAGS   ?= $(OPT) $(ARCH) -g
CFLAGS   += -std=c11 -fno-math-errno $(WARN) -pthread $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS   += $(PKG_LIBS) $(MPI_LIBS) -lmujoco -lm -pthread $(EXTRA_LDLIBS)

LIB_SRC   := $(shell find lib -name '*.c' | sort)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TOOLS     := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELPERS := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REGRESS := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz_%)
MANPAGES  := $(wildcard man/man1/*.1 man/man3/*.3 man/man5/*.5 man/man7/*.7)
LIBILT    := $(BUILD)/libilt.a
# The public library: the layers a policy runs on (no sim/, video/, train/), libilt.so.0.
SO_LAYERS := util nn io policy ilt
SO_OBJ    := $(filter $(SO_LAYERS:%=$(BUILD)/obj/lib/%/%),$(LIB_OBJ))
SO_MODULES := hdf5 libarchive openblas jansson
SO_NAME   := libilt.so.0
SO_FILE   := $(BUILD)/libilt.so.$(VERSION)
MAN3PAGES := $(wildcard man/man3/*.3)

.PHONY: all deps fuzz-deps test check check-asan check-asan-readers fuzz fuzzers unit bats bench install install-lib uninstall clean lint-man task-pictures demo
.DEFAULT_GOAL := all
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory build

.PHONY: build
build: $(TOOLS) $(UNITS) $(FUZZ_REGRESS) $(SO_FILE)

# ---------------------------------------------------------------- dependencies
# Idempotent: one dpkg-query when everything is there; apt-get as root, through sudo otherwise.
deps: PACKAGES := $(DEB_PACKAGES)
fuzz-deps: PACKAGES := $(FUZZ_DEB_PACKAGES)
deps fuzz-deps:
	@missing=$$(for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "make deps: missing Debian packages:" $$missing "(run as root or install sudo)" >&2; exit 1; fi; \
	  $$SUDO apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing >/dev/null \
	    || { echo "make deps: apt-get failed for:" $$missing >&2; exit 1; }; \
	fi

# ---------------------------------------------------------------- build
# The compiler and its flags, rewritten only when they change: objects depend on it, so that a
# change of OPT, ARCH or CFLAGS rebuilds everything.
FLAGS_STAMP := $(BUILD)/compile-flags
$(shell mkdir -p $(BUILD) && echo '$(CC) $(CPPFLAGS) $(CFLAGS)' | cmp -s - $(FLAGS_STAMP) || \
  echo '$(CC) $(CPPFLAGS) $(CFLAGS)' > $(FLAGS_STAMP))

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# Library objects are position-independent: the same objects make libilt.a and libilt.so.
$(LIB_OBJ): CFLAGS += -fPIC

$(LIBILT): $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

# Only the functions of include/ilt.h are exported (lib/ilt/libilt.map).
$(SO_FILE): $(SO_OBJ) lib/ilt/libilt.map
	$(CC) -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script=lib/ilt/libilt.map -Wl,--no-undefined $(CFLAGS) \
	  $(LDFLAGS) $(SO_OBJ) $(shell pkg-config --libs $(SO_MODULES) 2>/dev/null) -lm -pthread -o $@

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBILT)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIBILT) $(LDLIBS) -o $@

# Benchmark programs (bench/*.c), built on demand by the bench scripts: make build/bench/NAME.
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBILT)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIBILT) $(LDLIBS) -o $@

UNIT_HELPER_OBJ := $(UNIT_HELPERS:%.c=$(BUILD)/obj/%.o)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(UNIT_HELPER_OBJ) $(LIBILT)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(UNIT_HELPER_OBJ) $(LIBILT) $(LDLIBS) -o $@

# A fuzz harness's regression runner: the harness + tests/fuzz/regress_main.c.
$(BUILD)/tests/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/regress_main.o $(LIBILT)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The libFuzzer binaries, built by `make fuzz` in build-fuzz with clang.
$(BUILD)/fuzzers/%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(LIBILT)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) $^ $(LDLIBS) -o $@
fuzzers: $(FUZZ_NAMES:%=$(BUILD)/fuzzers/%)

# The scenes are compiled into the library (lib/sim/scenes.c, .incbin).
$(BUILD)/obj/lib/sim/scenes.o: $(wildcard data/*.xml)

-include $(LIB_OBJ:.o=.d) $(TOOL_SRC:tools/%.c=$(BUILD)/obj/tools/%.d) $(UNIT_SRC:%.c=$(BUILD)/obj/%.d) \
  $(FUZZ_SRC:%.c=$(BUILD)/obj/%.d) $(patsubst %.c,$(BUILD)/obj/%.d,$(wildcard bench/*.c))

# ---------------------------------------------------------------- tests
# tests/run prints TAP lines and ends with "N passed, N failed".
test check: deps
	@$(MAKE) --no-print-directory build
	@ILT_BIN=$(abspath $(BUILD)/bin) ILT_UNIT=$(abspath $(BUILD)/tests) bash tests/run

check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	  EXTRA_LDLIBS="-fsanitize=address,undefined" build
	@ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ILT_ASAN=1 ILT_ONLY="$(ILT_ONLY)" ILT_BIN=$(abspath build-asan/bin) ILT_UNIT=$(abspath build-asan/tests) bash tests/run

# The readers' share of check-asan, which CI runs after make test (the whole of check-asan takes
# about 25 minutes on 2 cores, more than CI's budget for it): the unit tests of the readers and
# writers, and the tools' tests on damaged files, fuzz regression inputs and interrupted writes.
ASAN_READERS := test_checkpoint test_episode_io test_npy_stream test_safetensors test_util test_policy \
	reliability.bats fuzz.bats io.bats checkpoint.bats
check-asan-readers:
	@$(MAKE) --no-print-directory check-asan ILT_ONLY="$(ASAN_READERS)"

# libFuzzer campaigns: each harness (tests/fuzz/fuzz_NAME.c) for FUZZ_SECONDS on one core,
# starting from its committed seeds (tests/fuzz/corpus/NAME) plus what earlier runs found
# (build-fuzz/corpus/NAME). Fork mode goes on after a crash; every crash input lands in
# build-fuzz/crashes/ and the run fails at the end if there is any. malloc returns NULL for an
# impossible size, as it does outside the sanitizer (the readers must say so, not abort).
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
fuzz: fuzz-deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang-14 OPT=-O1 \
	  EXTRA_CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" EXTRA_LDLIBS="$(FUZZ_FLAGS)" fuzzers
	@mkdir -p build-fuzz/crashes; for n in $(FUZZ_NAMES); do \
	  mkdir -p build-fuzz/corpus/$$n; echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  HDF5_USE_FILE_LOCKING=FALSE ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
	    build-fuzz/fuzzers/$$n -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=20 -artifact_prefix=build-fuzz/crashes/$$n- \
	    build-fuzz/corpus/$$n tests/fuzz/corpus/$$n > build-fuzz/$$n.log 2>&1; \
	  grep -E '^#[0-9]+: cov' build-fuzz/$$n.log | tail -1; \
	done; \
	if ls build-fuzz/crashes | grep -q .; then echo "fuzz: crash inputs in build-fuzz/crashes:"; ls build-fuzz/crashes; exit 1; fi

lint-man:
	@mandoc -Tlint -W warning $(MANPAGES)

task-pictures: all
	@ILT_BIN=$(abspath $(BUILD)/bin) bash tests/task-pictures.sh $(BUILD)/task-pictures

bench: all
	@ILT_BIN=$(abspath $(BUILD)/bin) bash bench/run

# ---------------------------------------------------------------- demo
# A short real run of pipelines/act_sim.mk; VAR=value on the command line overrides these.
DEMO_VARS := TASK=transfer_cube DEMOS=20 IMAGE_SIZE=48x64 CHUNK=50 STEPS=1000 SAVE_EVERY=250 \
	EVAL_EVERY=500 EVAL_EPISODES=20 VIDEO_EPISODES=2 RUN_DIR=runs/demo
demo: all
	@$(MAKE) --no-print-directory -f pipelines/act_sim.mk ILT_BIN=$(abspath $(BUILD)/bin) $(DEMO_VARS) $(MAKEOVERRIDES)
	@$(MAKE) --no-print-directory -f pipelines/act_sim.mk ILT_BIN=$(abspath $(BUILD)/bin) $(DEMO_VARS) $(MAKEOVERRIDES) summary

# ---------------------------------------------------------------- install
install: build install-lib
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(wildcard man/man1/*.1) $(DESTDIR)$(PREFIX)/share/man/man1/
	$(if $(wildcard man/man5/*.5),install -m 644 $(wildcard man/man5/*.5) $(DESTDIR)$(PREFIX)/share/man/man5/)
	$(if $(wildcard man/man7/*.7),install -m 644 $(wildcard man/man7/*.7) $(DESTDIR)$(PREFIX)/share/man/man7/)

# The public library alone: libilt.so.VERSION with its soname and development links, ilt.h,
# ilt.pc (pkg-config ilt) and the man3 pages.
LIBDIR ?= $(PREFIX)/lib
install-lib: $(SO_FILE)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 755 $(SO_FILE) $(DESTDIR)$(LIBDIR)/
	ln -sf libilt.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SO_NAME)
	ln -sf $(SO_NAME) $(DESTDIR)$(LIBDIR)/libilt.so
	install -m 644 include/ilt.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' lib/ilt/ilt.pc.in \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/ilt.pc
	$(if $(MAN3PAGES),install -m 644 $(MAN3PAGES) $(DESTDIR)$(PREFIX)/share/man/man3/)

uninstall:
	rm -f $(TOOL_SRC:tools/%.c=$(DESTDIR)$(PREFIX)/bin/%) \
	  $(patsubst man/%,$(DESTDIR)$(PREFIX)/share/man/%,$(MANPAGES)) \
	  $(DESTDIR)$(LIBDIR)/libilt.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SO_NAME) $(DESTDIR)$(LIBDIR)/libilt.so \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/ilt.pc $(DESTDIR)$(PREFIX)/include/ilt.h

clean:
	rm -rf build build-asan build-fuzz

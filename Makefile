# ovid's entry point. `make run` and `make test` each install what is missing, configure, build,
# then run the main job or every test. The work is done by scripts/install-deps.sh, CMake presets
# (CMakePresets.json) and ctest; this file only chains them.
#
#   make run                 install, build, serve a tiny Ovi GGUF with ovid, generate once with ovidctl
#   make test                install, build, run every test (C++ and Python) under one ctest
#   make build               install and build only
#   make test PRESET=cpu     any target with another preset: release, ci, cpu, device
#
# PRESET defaults to `ci` when CI=true (one CUDA architecture, to save build time), else `release`.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

PRESET ?= $(if $(filter true,$(CI)),ci,release)
# Where each preset builds (binaryDir in CMakePresets.json); ci shares release's folder.
BUILD_DIR := $(ROOT)/$(if $(filter cpu,$(PRESET)),build-cpu,$(if $(filter device,$(PRESET)),build-device,build))
BIN := $(BUILD_DIR)/bin
CTEST_JOBS ?= $(shell nproc)
# Extra ninja arguments, e.g. BUILD_ARGS=-j1 on a machine short of memory.
BUILD_ARGS ?=

# CMake finds nvcc through PATH; the toolkit's usual home is added when PATH lacks it.
ifeq ($(shell command -v nvcc),)
  export PATH := $(PATH):/usr/local/cuda/bin
endif

.PHONY: all deps configure build test run clean distclean help
all: build

help:
	@sed -n 's/^#   //p' $(lastword $(MAKEFILE_LIST))

# SKIP_DEPS=1 skips the (already quick) check, for callers that just ran it (.ci/run).
deps:
	@[ -n "$(SKIP_DEPS)" ] || bash $(ROOT)/scripts/install-deps.sh

# prometheus-cpp, unpacked into .deps on Debian 12 (scripts/install-prometheus-cpp.sh), is named
# to CMake here; LibTorch is found by cmake/Torch.cmake through the virtualenv's python.
# A build folder already configured for this preset (and these presets) is left to ninja, which
# re-runs CMake itself when a CMakeLists.txt changes; RECONFIGURE=1 forces a fresh configure.
configure: deps
	@stamp="$(PRESET) $$(sha256sum <$(ROOT)/CMakePresets.json | cut -c1-16)"; \
	if [ -z "$(RECONFIGURE)" ] && [ -f $(BUILD_DIR)/build.ninja ] && \
	   [ "$$(cat $(BUILD_DIR)/.ovid-preset 2>/dev/null)" = "$$stamp" ]; then \
	  echo "[make] configure: $(BUILD_DIR) is configured for preset $(PRESET)"; \
	else \
	  echo "[make] configure: preset $(PRESET) in $(BUILD_DIR)"; \
	  cd $(ROOT); \
	  CMAKE_PREFIX_PATH="$(ROOT)/.deps/prometheus-cpp/usr$${CMAKE_PREFIX_PATH:+:$$CMAKE_PREFIX_PATH}" \
	    cmake --preset $(PRESET); \
	  echo "$$stamp" >$(BUILD_DIR)/.ovid-preset; \
	fi

build: configure
	@echo "[make] build: preset $(PRESET)"
	@cmake --build $(BUILD_DIR) $(BUILD_ARGS)

# ctest lists skipped tests (GPU tests on a machine without one) after its summary; the summary
# line is repeated last so that it ends the output either way.
test: build
	@echo "[make] test: ctest in $(BUILD_DIR), $(CTEST_JOBS) at a time"
	@set +e; ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(CTEST_JOBS) | tee $(BUILD_DIR)/ctest.log; \
	rc=$${PIPESTATUS[0]}; \
	grep -E '^[0-9]+% tests passed' $(BUILD_DIR)/ctest.log | tail -n 1; \
	exit $$rc

# A tiny model, the daemon on it, one `ovidctl generate`, the daemon stopped (scripts/run-demo.sh).
run: build
	@bash $(ROOT)/scripts/run-demo.sh $(BIN) $(BUILD_DIR)/run

clean:
	rm -rf $(ROOT)/build $(ROOT)/build-cpu $(ROOT)/build-device

distclean: clean
	rm -rf $(ROOT)/.venv $(ROOT)/.deps

# spectro — set-up, build and tests.
#
#   make demo    install what is missing, build, run examples/demo.py (writes demo_spectrogram.png)
#   make test    install what is missing, build, run the CPU kernels' standalone test, compile (and on a GPU run)
#                the standalone CUDA kernel test when nvcc is on PATH, build and run the C++ example (examples/cpp)
#                with CMake, then pytest tests (without a GPU, the CUDA kernels' host emulation runs beside it)
#   make test-compat  the CPU suite against the oldest supported torch (COMPAT_TORCH), in a virtual environment of its
#                own (build/compat/venv, torch from PyPI) with the extension built in a copy of the sources
#                (build/compat/src): the main build (spectro/_C*.so) is untouched. CI (.ci/run) runs it after make test.
#
# Helpers: make build | kernels-test | kernels-compile | cpp-example | compat-venv | bench | clean | help
#
# Python packages are installed only when they cannot be imported: torch ($(TORCH_SPEC)), numpy, pytest, matplotlib,
# ninja, setuptools, wheel, cmake, and the tests' parity anchors (librosa, auraloss, scipy, expecttest, hypothesis,
# openai-whisper). An importable torch, whatever its version or build (CPU or CUDA), is never replaced, and
# nothing is downloaded when everything is present. Variables:
#   PYTHON=python3            the interpreter to use (a venv's python works too)
#   TORCH_SPEC=torch==2.13.0  what to install when torch is missing
#   PIP_INSTALL_FLAGS=        extra flags for those installs (e.g. --user, --index-url ...)
#   PYTEST_ARGS=-q -rfE       DEMO_ARGS=  BENCH_ARGS=  JOBS=<cores> (parallel nvcc jobs)
#   EMULATE_ARGS=--quick      what kernels-test passes to test_fused --emulate without a GPU (the default launch
#                             shapes and every kernel instance; empty: also every launch-shape variant, ~4x longer)
#   SPECTRO_FORCE_CPU=1 MAX_JOBS=N TORCH_CUDA_ARCH_LIST=...  are passed through to setup.py
#   COMPAT_TORCH=2.3.1  COMPAT_DIR=build/compat  COMPAT_PYTEST_ARGS=-q -rfE   (make test-compat)

PYTHON            ?= python3
PIP               := $(PYTHON) -m pip
TORCH_SPEC        ?= torch==2.13.0
PIP_INSTALL_FLAGS ?=
PYTEST_ARGS       ?= -q -rfE
DEMO_ARGS         ?=
BENCH_ARGS        ?=
EMULATE_ARGS      ?= --quick
NVCC              ?= $(shell command -v nvcc 2>/dev/null)
JOBS              ?= $(shell nproc 2>/dev/null || echo 2)

STAMP_DIR   := build/make
BUILD_STAMP := $(STAMP_DIR)/extension.stamp
SOURCES     := setup.py pyproject.toml $(shell find csrc -type f 2>/dev/null)

# Console scripts that pip installs (ninja) land next to the interpreter or in the user scheme's bin: make them
# visible to torch.utils.cpp_extension, which looks for `ninja` on PATH.
PY_BIN_DIRS := $(shell $(PYTHON) -c "import os, sysconfig; print(':'.join(dict.fromkeys([sysconfig.get_path('scripts'), sysconfig.get_path('scripts', os.name + '_user')])))" 2>/dev/null)
ifneq ($(strip $(PY_BIN_DIRS)),)
export PATH := $(PATH):$(PY_BIN_DIRS)
endif

# Set-up steps install packages: never run two at once (the nvcc compiles below run in parallel in a sub-make).
ifndef SPECTRO_PARALLEL_SUBMAKE
.NOTPARALLEL:
endif
.DEFAULT_GOAL := help
.PHONY: help demo test test-compat compat-venv build kernels-test kernels-compile cpp-example bench clean deps-build deps-test deps-demo

help:
	@echo "spectro: fast drop-in torch.stft / torch.istft"
	@echo "  make demo   set up, build and run the demo (examples/demo.py -> demo_spectrogram.png)"
	@echo "  make test   set up, build, CUDA kernel test (when nvcc is on PATH) and pytest"
	@echo "  make test-compat   the CPU suite against the oldest supported torch ($(COMPAT_TORCH)) in its own venv"
	@echo "helpers: make build | kernels-test | kernels-compile | cpp-example | compat-venv | bench | clean   (PYTHON=$(PYTHON))"

# $(call ensure,module=requirement ...): pip-install the requirements whose module does not import.
define ensure
	@missing=""; \
	for pair in $(1); do \
	  $(PYTHON) -c "import $${pair%%=*}" >/dev/null 2>&1 || missing="$$missing $${pair#*=}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing missing Python packages:$$missing"; \
	  $(PIP) install $(PIP_INSTALL_FLAGS) $$missing || { \
	    echo "error: '$(PIP) install$$missing' failed."; \
	    echo "  Offline? Install them by hand. 'externally-managed-environment'? Use a virtual environment:"; \
	    echo "  python3 -m venv .venv && make PYTHON=.venv/bin/python $(MAKECMDGOALS)"; \
	    exit 1; }; \
	fi
endef

deps-build:
	$(call ensure,torch=$(TORCH_SPEC) setuptools=setuptools)
	@$(PYTHON) -c "import setuptools, sys; sys.exit(tuple(int(p) for p in setuptools.__version__.split('.')[:2]) < (70, 1))" \
	  2>/dev/null || $(PYTHON) -c "import wheel" 2>/dev/null || { \
	  echo ">> installing missing wheel (setuptools < 70.1 needs it to build)"; $(PIP) install $(PIP_INSTALL_FLAGS) wheel; }
	@command -v ninja >/dev/null 2>&1 || { \
	  echo ">> installing missing ninja (incremental C++/CUDA builds)"; \
	  $(PIP) install $(PIP_INSTALL_FLAGS) ninja || echo "warning: no ninja; torch falls back to a slower build"; }

# The test suite's parity anchors: librosa (filterbanks, melspectrogram), auraloss 0.4 (losses), scipy, expecttest
# (torch's OpInfo database), hypothesis (fuzzing), and openai-whisper's audio module and filterbank file (without its
# model dependencies).
deps-test: deps-build
	$(call ensure,numpy=numpy pytest=pytest scipy=scipy librosa=librosa==0.11.0 auraloss=auraloss==0.4.0 \
	  expecttest=expecttest hypothesis=hypothesis)
	@$(PYTHON) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('whisper') is None)" 2>/dev/null || { \
	  echo ">> installing missing openai-whisper (--no-deps: its audio module and filterbank file)"; \
	  $(PIP) install $(PIP_INSTALL_FLAGS) --no-deps openai-whisper==20250625 || exit 1; }

deps-demo: deps-build
	$(call ensure,numpy=numpy matplotlib=matplotlib)

# The editable install rebuilds the extension from scratch each time (pip builds in a temporary folder), so it is
# skipped while the sources are older than the stamp and the installed spectro is this checkout's, built for this
# interpreter and torch.
ENV_SIG = $(shell $(PYTHON) -c "import sys, torch; print(sys.executable, torch.__version__, torch.version.cuda)" 2>/dev/null) nvcc=$(NVCC) force_cpu=$(SPECTRO_FORCE_CPU) arch=$(TORCH_CUDA_ARCH_LIST)
CHECK_INSTALLED = $(PYTHON) -c "import os, sys; \
	sys.path[:] = [p for p in sys.path if p not in ('', '.', os.getcwd())]; \
	import spectro; \
	sys.exit(os.path.dirname(os.path.abspath(spectro.__file__)) != os.path.abspath('spectro'))"

build: deps-build
	@sig='$(ENV_SIG)'; \
	if [ -f $(BUILD_STAMP) ] && [ "$$(cat $(BUILD_STAMP))" = "$$sig" ] \
	   && [ -z "$$(find $(SOURCES) -newer $(BUILD_STAMP) 2>/dev/null | head -n 1)" ] \
	   && $(CHECK_INSTALLED) >/dev/null 2>&1; then \
	  echo ">> spectro is up to date (make clean to force a rebuild)"; \
	else \
	  echo ">> building spectro: $(PIP) install --no-build-isolation --no-deps -e ."; \
	  rm -f $(BUILD_STAMP); \
	  $(PIP) install --no-build-isolation --no-deps -e . || exit 1; \
	  mkdir -p $(STAMP_DIR) && echo "$$sig" > $(BUILD_STAMP); \
	fi

# The CPU kernels (csrc/kernels/cpu/) with the host compiler alone: test_cpu_kernels, against the common.h definitions.
# CUDA kernels, compiled with nvcc alone whenever nvcc is on PATH (no GPU or CUDA torch needed):
# tests/kernels/Makefile builds every torch-free launcher instance (csrc/kernels/cuda/instances) into the
# standalone tests test_frame_ola and test_fused. With a GPU both run (build/kernels, sm_90 code); without one the
# device code is compiled to PTX only (EMU_BUILD: the device compiler checks every kernel; ptxas, most of the compile
# time, runs where a GPU is) and test_fused runs the fused kernels' code on the host (--emulate: threads as fibers in
# random order per barrier interval).
EMU_BUILD ?= build/kernels-emu
EMU_ARCH  ?= -gencode arch=compute_90,code=compute_90
HAVE_GPU  := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
# The host emulation's command where it runs (nvcc on PATH, no GPU). It is one thread: `make test` runs it in the
# background of pytest (its output in EMULATE_LOG, printed after pytest), kernels-test in the foreground.
EMULATE     := $(if $(strip $(NVCC)),$(if $(HAVE_GPU),,$(EMU_BUILD)/test_fused --emulate $(EMULATE_ARGS)))
EMULATE_LOG := build/emulate.log
kernels-test: kernels-compile
ifneq ($(strip $(EMULATE)),)
	@echo ">> running the fused kernels' code under host emulation"
	$(EMULATE)
endif

# kernels-test without the host emulation's run: the CPU kernels' test, the CUDA compile, and on a GPU the device tests.
kernels-compile:
	@echo ">> compiling and running the CPU kernels' standalone test"
	$(MAKE) --no-print-directory -f tests/kernels/Makefile cpu-run
ifeq ($(strip $(NVCC)),)
	@echo ">> nvcc not on PATH: skipping the standalone CUDA kernel compile and test"
else ifneq ($(HAVE_GPU),)
	@echo ">> compiling the CUDA kernels and their standalone test with $(NVCC)"
	$(MAKE) --no-print-directory -f tests/kernels/Makefile NVCC=$(NVCC) -j$(JOBS)
	@echo ">> running the standalone CUDA kernel tests"
	$(MAKE) --no-print-directory -f tests/kernels/Makefile NVCC=$(NVCC) run
else
	@echo ">> no GPU: compiling the CUDA kernels and their standalone test with $(NVCC), device code to PTX only"
	$(MAKE) --no-print-directory -f tests/kernels/Makefile NVCC=$(NVCC) -j$(JOBS) BUILD=$(EMU_BUILD) ARCH="$(EMU_ARCH)"
endif

# The C++ example (examples/cpp): a libtorch program that finds spectro with find_package(spectro), through the
# prefix paths the installed torch and spectro report. cmake is installed from PyPI when missing.
cpp-example: build
	@command -v cmake >/dev/null 2>&1 || { echo ">> installing missing cmake"; $(PIP) install $(PIP_INSTALL_FLAGS) cmake; }
	@echo ">> building and running the C++ example (examples/cpp) with CMake"
	@prefix="$$($(PYTHON) -c 'import torch, spectro; print(torch.utils.cmake_prefix_path + ";" + spectro.cmake_prefix_path)')" \
	  && cmake -S examples/cpp -B build/cpp -DCMAKE_PREFIX_PATH="$$prefix" -DCMAKE_BUILD_TYPE=Release >build/cpp-configure.log 2>&1 \
	  || { cat build/cpp-configure.log; exit 1; }
	cmake --build build/cpp -j$(JOBS)
	build/cpp/roundtrip

test: deps-test build kernels-compile cpp-example
ifeq ($(strip $(EMULATE)),)
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)
else
	@echo ">> running the fused kernels' code under host emulation, in the background of pytest ($(EMULATE_LOG))"
	@$(EMULATE) >$(EMULATE_LOG) 2>&1 & emu=$$!; \
	$(PYTHON) -m pytest tests $(PYTEST_ARGS); rc=$$?; \
	wait $$emu; erc=$$?; \
	echo ">> host emulation of the fused kernels (exit status $$erc):"; tail -n 12 $(EMULATE_LOG); \
	[ $$erc -eq 0 ] || { echo "error: the host emulation failed; $(EMULATE_LOG) has its whole output"; rc=1; }; \
	exit $$rc
endif

# The oldest supported torch (pyproject.toml's lower bound): the CPU suite in a venv of its own. PyPI's Linux wheels of
# torch are CUDA builds (about 3 GB with their NVIDIA libraries; the CPU suite does not use them), so the venv is kept
# between runs and torch is installed only when its version differs. The Python sources and tests are copied into
# $(COMPAT_DIR)/src on every run; the extension is rebuilt there (CPU only) when setup.py, pyproject.toml or csrc
# changed, or the venv's torch did.
COMPAT_TORCH       ?= 2.3.1
COMPAT_DIR         ?= build/compat
COMPAT_PYTEST_ARGS ?= -q -rfE
COMPAT_VENV  := $(abspath $(COMPAT_DIR))/venv
COMPAT_PY    := $(COMPAT_VENV)/bin/python
COMPAT_SRC   := $(abspath $(COMPAT_DIR))/src
COMPAT_STAMP := $(abspath $(COMPAT_DIR))/extension.stamp

# compat-venv: the venv and its torch alone (.ci/run installs them while make test builds).
compat-venv:
	@[ -x $(COMPAT_PY) ] || $(PYTHON) -m venv $(COMPAT_VENV)
	@$(COMPAT_PY) -c "import sys, torch, numpy, pytest, expecttest, ninja, setuptools, wheel; \
	  sys.exit(torch.__version__.split('+')[0] != '$(COMPAT_TORCH)')" >/dev/null 2>&1 || { \
	  echo ">> installing torch==$(COMPAT_TORCH) numpy pytest expecttest ninja setuptools wheel into $(COMPAT_VENV)"; \
	  $(COMPAT_PY) -m pip install $(PIP_INSTALL_FLAGS) \
	    torch==$(COMPAT_TORCH) numpy pytest expecttest ninja setuptools wheel || exit 1; }

test-compat: compat-venv
	@echo ">> compat: the CPU suite on torch $(COMPAT_TORCH) ($(COMPAT_DIR))"
	@mkdir -p $(COMPAT_SRC)/spectro \
	  && rm -rf $(COMPAT_SRC)/csrc $(COMPAT_SRC)/tests $(COMPAT_SRC)/examples $(COMPAT_SRC)/scripts \
	     $(COMPAT_SRC)/benchmarks $(COMPAT_SRC)/spectro/*.py $(COMPAT_SRC)/spectro/include $(COMPAT_SRC)/spectro/share \
	  && cp -r setup.py pyproject.toml README.md csrc tests examples scripts benchmarks $(COMPAT_SRC)/ \
	  && cp -r spectro/*.py spectro/include spectro/share $(COMPAT_SRC)/spectro/
	@sig="$$($(COMPAT_PY) -c 'import torch; print(torch.__version__)')"; \
	if [ -f $(COMPAT_STAMP) ] && [ "$$(cat $(COMPAT_STAMP))" = "$$sig" ] \
	   && ls $(COMPAT_SRC)/spectro/_C*.so $(COMPAT_SRC)/spectro/lib/libspectro.so >/dev/null 2>&1 \
	   && [ -z "$$(find setup.py pyproject.toml csrc spectro/include -newer $(COMPAT_STAMP) 2>/dev/null | head -n 1)" ]; then \
	  echo ">> compat: spectro is up to date for torch $$sig"; \
	else \
	  echo ">> compat: building spectro (CPU) for torch $$sig in $(COMPAT_SRC)"; \
	  rm -rf $(COMPAT_STAMP) $(COMPAT_SRC)/spectro/_C*.so $(COMPAT_SRC)/spectro/lib; \
	  cd $(COMPAT_SRC) && PATH="$(COMPAT_VENV)/bin:$$PATH" SPECTRO_FORCE_CPU=1 \
	    $(COMPAT_PY) -m pip install --no-build-isolation --no-deps -e . || exit 1; \
	  echo "$$sig" > $(COMPAT_STAMP); \
	fi
	cd $(COMPAT_SRC) && $(COMPAT_PY) -m pytest tests $(COMPAT_PYTEST_ARGS)

demo: deps-demo build
	$(PYTHON) examples/demo.py $(DEMO_ARGS)

bench: deps-demo build
	$(PYTHON) benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf build spectro/_C*.so spectro/lib spectro/__pycache__ *.egg-info .pytest_cache demo_spectrogram.png

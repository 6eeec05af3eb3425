# genrefocus-video: the two commands a newcomer needs are `make demo` and `make test`.
# Both create or refresh .venv/, install what is missing (Python packages from requirements.lock,
# Debian's ffmpeg when ffmpeg/ffprobe are absent, the C toolchain for the OFX plugin), then run.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export RAY_AUTH_MODE ?= disabled

.PHONY: all demo test ofx bench system-deps venv clean help

help:
	@echo "make demo   - set up and refocus the bundled sample (writes out/demo/)"
	@echo "make test   - set up and run the test suite"
	@echo "make ofx    - build the OpenFX bundle into plugins/ofx/build/"
	@echo "make bench  - run the benchmarks (slow; results go to docs/benchmarks/)"

# Debian packages: ffmpeg/ffprobe (ffmpeg-python and segment concatenation) and a C compiler (OFX).
system-deps:
	@missing=""; \
	command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || missing="$$missing build-essential"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

# The installed .venv takes about 2.1 GiB; pip also unpacks each wheel in $$TMPDIR first. Without pip's
# wheel cache (--no-cache-dir) nothing else stays on disk. Refuse early, in one line, where the disk
# cannot hold it, instead of failing half-way with "No space left on device".
NEED_MIB := 2600
$(STAMP): requirements.lock pyproject.toml
	@free=$$(df -Pm . | awk 'NR==2 {print $$4}'); \
	if [ -n "$$free" ] && [ "$$free" -lt $(NEED_MIB) ]; then \
	  echo "make: $(abspath $(VENV)): $$free MiB free on this disk, installing the packages needs about $(NEED_MIB) MiB" >&2; exit 1; \
	fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-cache-dir --upgrade pip
	$(PY) -m pip install -q --no-cache-dir -r requirements.lock
	$(PY) -m pip install -q --no-cache-dir --no-deps -e .
	@touch $(STAMP)

venv: system-deps $(STAMP)

ofx: venv
	$(MAKE) -C plugins/ofx PYTHON=$(abspath $(PY))

demo: venv
	$(PY) samples/run_demo.py

# Then the OFX plugin again, built with AddressSanitizer + UBSan + LeakSanitizer, and with
# ThreadSanitizer (host render threads); each skips with its reason where the runtime is missing.
test: venv ofx
	$(PY) -m pytest -q -p no:cacheprovider
	GENREFOCUS_OFX_SANITIZE=address $(PY) -m pytest -q -p no:cacheprovider -rs tests/test_ofx_host.py tests/test_ofx_depth_sources.py
	GENREFOCUS_OFX_SANITIZE=thread $(PY) -m pytest -q -p no:cacheprovider -rs tests/test_ofx_host.py tests/test_ofx_depth_sources.py

bench: venv ofx
	$(PY) benchmarks/run_all.py

clean:
	rm -rf out .pytest_cache
	-$(MAKE) -C plugins/ofx clean

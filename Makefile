# pyrun: the tasks a developer and CI run. `sudo scripts/install.sh` sets everything up first.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: install test unit integration fuzz lint bench min-memory vm-test demo clean

install:
	scripts/install.sh

# The whole suite: lint, unit tests (no root), integration tests (root, this host's cgroups),
# the config fuzzer's bounded run (root), then the cgroup tests again on a pure cgroup v2
# kernel in a VM (vm/install-deps.sh first; without qemu the VM step says so and fails: a
# suite that skips it is not the whole suite).
test: lint unit integration fuzz vm-test

unit:
	$(PYTEST) tests/unit

integration:
	sh scripts/write-launcher.sh
	$(PYTEST) tests/integration

# Generated and pathological config.json files through create and run (root; ~2-3 min):
# a fixed seed, PYRUN_FUZZ_EXAMPLES cases (default 300); then the regression tests of
# tests/fuzz/findings. Long runs: `python -m tests.fuzz --help`.
# Inside the sandbox when this machine has one (tests/fuzz refuses to run as root outside it
# unless PYRUN_FUZZ_UNSANDBOXED=1).
SANDBOX ?= $(wildcard /work/shared/tools/sandbox)
fuzz:
	sh scripts/write-launcher.sh
	$(SANDBOX) $(PYTEST) -m fuzz tests/fuzz

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

bench:
	sh scripts/write-launcher.sh
	$(PY) bench/bench.py

# The smallest memory limit under which pyrun (and runc) still run /bin/true.
min-memory:
	sh scripts/write-launcher.sh
	$(PY) bench/min_memory.py

vm-test:
	@command -v qemu-system-x86_64 >/dev/null || \
		{ echo "vm-test: no qemu: run sudo vm/install-deps.sh first"; exit 1; }
	sh scripts/write-launcher.sh
	vm/run.sh --cwd $(CURDIR) -- $(PY) -m pytest -m cgroups tests/integration

demo:
	pyrun run -b examples/hello demo-$$$$

clean:
	rm -rf build src/*.egg-info src/pyrun/_shim*.so src/pyrun/_shim.[co] \
		src/pyrun/_seccomp*.so src/pyrun/_seccomp.[co]
	find src tests -name __pycache__ -prune -exec rm -rf {} +

# pyrun: the tasks a developer and CI run. `sudo scripts/install.sh` sets everything up first.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: install test-deps test unit integration engines lint bench min-memory vm-test demo clean

install:
	scripts/install.sh

# What only the tests and benchmarks need (qemu and a kernel, the engines, runc, crun).
test-deps:
	scripts/install-test-deps.sh

# The whole suite, after installing what it needs (test-deps): lint, unit tests (no root),
# integration tests (root, this host's cgroups), the cgroup tests again on a pure cgroup
# v2 kernel in a VM (a suite that skips it is not the whole suite),
# then Docker, podman and containerd running pyrun (root; each engine started privately):
# last, so that the slowest step, and the one most often failing, does not hide the others.
test: test-deps lint unit integration vm-test engines

unit:
	$(PYTEST) tests/unit

integration:
	sh scripts/write-launcher.sh
	$(PYTEST) tests/integration

# Debian's docker.io, podman and containerd with pyrun as their runtime (scripts/install.sh
# installs them). A missing engine fails, never skips.
engines:
	sh scripts/write-launcher.sh
	$(PYTEST) -m engines tests/engines

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

bench: test-deps
	sh scripts/write-launcher.sh
	$(PY) bench/bench.py

# The smallest memory limit under which pyrun (and runc) still run /bin/true.
min-memory: test-deps
	sh scripts/write-launcher.sh
	$(PY) bench/min_memory.py

vm-test:
	@command -v qemu-system-x86_64 >/dev/null || \
		{ echo "vm-test: no qemu: run sudo make test-deps first"; exit 1; }
	sh scripts/write-launcher.sh
	vm/run.sh --cwd $(CURDIR) -- $(PY) -m pytest -m "cgroups or vm" tests/integration

demo:
	pyrun run -b examples/hello demo-$$$$

clean:
	rm -rf build src/*.egg-info src/pyrun/_shim*.so src/pyrun/_shim.[co] \
		src/pyrun/_seccomp*.so src/pyrun/_seccomp.[co]
	find src tests -name __pycache__ -prune -exec rm -rf {} +

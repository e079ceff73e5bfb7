# pyrun: the tasks a developer and CI run. `sudo scripts/install.sh` sets everything up first.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: install test unit integration lint bench min-memory vm-test labs lab-check demo clean

install:
	scripts/install.sh

# The whole suite: lint, unit tests (no root), integration tests (root, this host's cgroups),
# then the cgroup tests again on a pure cgroup v2 kernel in a VM (vm/install-deps.sh first;
# without qemu the VM step says so and fails: a suite that skips it is not the whole suite),
# then the teaching labs' checkers.
test: lint unit integration vm-test labs

unit:
	$(PYTEST) tests/unit

integration:
	sh scripts/write-launcher.sh
	$(PYTEST) tests/integration

lint:
	$(VENV)/bin/ruff check src tests bench examples/labs
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

# The teaching labs (examples/labs/README.md), as root: every level's checker passes on its
# solution and fails, with its teaching message, on its skeleton and on typical wrong
# attempts (tests/labs/wrong). Level 05 needs cgroup v2: on a host without it, its cases
# run in one boot of the VM above.
labs:
	sh scripts/write-launcher.sh
	$(PYTEST) -m labs tests/labs

# One level's checker on your program: make lab-check N=03 [PROGRAM=path/to/yours.py]
# (default: examples/labs/NN-*/student.py, else the level's skeleton).
lab-check:
	@test -n "$(N)" || { echo "usage: make lab-check N=NN [PROGRAM=file]"; exit 2; }
	$(VENV)/bin/pyrun-lab check $(N) $(PROGRAM)

demo:
	pyrun run -b examples/hello demo-$$$$

clean:
	rm -rf build src/*.egg-info src/pyrun/_shim*.so src/pyrun/_shim.[co] \
		src/pyrun/_seccomp*.so src/pyrun/_seccomp.[co]
	find src tests -name __pycache__ -prune -exec rm -rf {} +

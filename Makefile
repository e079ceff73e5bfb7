# pyrun: the tasks a developer and CI run. `sudo scripts/install.sh` sets everything up first.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: install test-deps test unit integration engines lint bench min-memory vm-test labs \
	lab-check fuzz demo clean

install:
	scripts/install.sh

# What only the tests and benchmarks need (qemu and a kernel, the engines, runc, crun).
test-deps:
	scripts/install-test-deps.sh

# The whole suite, after installing what it needs (test-deps): lint, unit tests (no root),
# integration tests (root, this host's cgroups), the cgroup tests again on a pure cgroup
# v2 kernel in a VM (a suite that skips it is not the whole suite), the teaching labs'
# checkers (root; level 05 in the VM), the config fuzzer's bounded run (root),
# then Docker, podman and containerd running pyrun (root; each engine started privately):
# last, so that the slowest step, and the one most often failing, does not hide the others.
test: test-deps lint unit integration vm-test labs fuzz engines

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

# Generated and pathological config.json files through create and run (root; ~2 min): a
# fixed seed, PYRUN_FUZZ_EXAMPLES cases (default 300), then the regression tests of
# tests/fuzz/findings. Long runs: `python -m tests.fuzz --help`.
fuzz:
	sh scripts/write-launcher.sh
	$(PYTEST) -m fuzz tests/fuzz

lint:
	$(VENV)/bin/ruff check src tests bench examples/labs
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

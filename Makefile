# pyrun: the tasks a developer and CI run. `sudo scripts/install.sh` sets everything up first.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: install test unit integration lint bench min-memory vm-test demo clean

install:
	scripts/install.sh

# The whole suite: lint, unit tests (no root), integration tests (root, this host's cgroups),
# then the cgroup v2 integration tests in a VM when the VM tooling is present.
test: lint unit integration

unit:
	$(PYTEST) tests/unit

integration:
	sh scripts/write-launcher.sh
	$(PYTEST) tests/integration

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
	vm/run.sh -- sh -c 'cd $(CURDIR) && $(PYTEST) tests/integration'

demo:
	pyrun run -b examples/hello demo-$$$$

clean:
	rm -rf build src/*.egg-info src/pyrun/_shim*.so src/pyrun/_shim.[co]
	find src tests -name __pycache__ -prune -exec rm -rf {} +

"""Fixtures for the engine tests: Docker, podman and containerd (ctr) with pyrun as their
runtime, each started privately once per session and torn down without a trace.

Run them inside the sandbox (/work/shared/tools/sandbox) or on a machine of their own (CI):
`make engines`, or `.venv/bin/python -m pytest -m engines tests/engines`. They need root
and Debian's docker.io, podman and containerd (`scripts/install.sh` installs them);
a missing package fails the session with the command that installs it, it is never
skipped.

Two knobs, for diagnosis: PYRUN=/usr/sbin/runc runs the same suite with runc in pyrun's
place (every scenario passes with runc: a failure with pyrun is pyrun's), and
PYRUN_ENGINES_RUN_FLAGS="--security-opt seccomp=unconfined" adds flags to every
docker/podman run, to look past a refusal.

Layers:
  session   `engines_host`: a private mount namespace for this pytest process, the session's
            temporary directory, bind mounts over the host paths engines write whatever
            their flags say (host.SHADOWED); at the end the final check: no engine process,
            no mount under the directory, no cgroup left by the engines or pyrun, no pyrun
            state, the host's engine paths (host.WATCHED) as they were before.
  session   `dockerd`, `podman_engine`, `containerd`: one engine each, started on first use.
  test      `cli` (parametrized: docker, podman), `ctr`: a client that names each container
            it makes, removes them after the test even when it fails, and then fails the
            test if a container's cgroup, pyrun state or process is still there.
"""

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.engines import host
from tests.engines.engines import (
    PYRUN,
    Containerd,
    Dockerd,
    EngineError,
    Podman,
    missing_binaries,
    unique,
)
from tests.integration.bundles import make_rootfs

# Engine start is slow (dockerd ~1 s, image import, first container); a test's own budget.
ENGINE_TEST_TIMEOUT = 120

# Parent cgroups an engine (or pyrun, for the engine's cgroupsPath) creates once for all its
# containers and leaves by design, as runc does: removed at the end when empty.
ENGINE_PARENT_CGROUPS = ("docker", "libpod_parent", Containerd.namespace)

REPORT: dict[str, list[str]] = {"startup": [], "forced": [], "shadow": []}


def pytest_terminal_summary(terminalreporter):
    lines = REPORT["startup"] + REPORT["forced"] + REPORT["shadow"]
    if lines:
        terminalreporter.section("engines")
        for line in lines:
            terminalreporter.write_line(line)


def _fail_missing(package: str) -> None:
    if missing := missing_binaries(package):
        pytest.fail(f"{package} is not installed ({', '.join(missing)} missing): run "
                    f"`scripts/install.sh` (or apt-get install {package}); "
                    "the engine tests are never skipped", pytrace=False)


class Host:
    def __init__(self, base: Path):
        self.base = base
        self.shadows = host.Shadows(base / "shadow")
        self.engines: list = []


@pytest.fixture(scope="session")
def engines_host():
    if os.geteuid() != 0:
        pytest.fail("the engine tests need root (they start dockerd, containerd, podman)",
                    pytrace=False)
    if not os.access(PYRUN, os.X_OK):
        pytest.fail(f"{PYRUN} missing: run scripts/write-launcher.sh", pytrace=False)
    if threading.active_count() != 1:
        pytest.fail("unshare(CLONE_NEWNS) needs a single-threaded pytest "
                    "(pytest-timeout must use its signal method)", pytrace=False)
    watched = host.watched_state()
    cgroups = host.cgroup_dirs()
    procs = set(host.engine_processes())
    host.private_mount_namespace()
    base = Path(tempfile.mkdtemp(prefix="pyrun-engines-"))
    os.chmod(base, 0o755)
    h = Host(base)
    h.shadows.cover()
    try:
        yield h
    finally:
        problems = _final_check(h, cgroups, procs)
        if written := h.shadows.written():
            REPORT["shadow"] += [f"written to shadowed host path {p}: {', '.join(e[:6])}"
                                 for p, e in written.items()]
        h.shadows.undo()
        host.unmount_all_under(base)
        shutil.rmtree(base, ignore_errors=True)
        after = host.watched_state()
        for path, state in watched.items():
            if after[path] != state:
                problems.append(f"host path {path} changed: {state} -> {after[path]}")
        if base.exists():
            problems.append(f"could not remove {base}")
        if problems:
            pytest.fail("engines left something behind:\n  " + "\n  ".join(problems),
                        pytrace=False)


def _final_check(h: Host, cgroups_before: set[str], procs_before: set[int]) -> list[str]:
    problems = []
    for engine in h.engines:
        problems += [f"{engine.name}: {f}" for f in engine.leaks]
        REPORT["forced"] += [f"{engine.name}: cleaned by force: {f}" for f in engine.forced]
    time.sleep(0.2)
    for pid, cmd in host.engine_processes().items():
        if pid not in procs_before and pid != os.getpid():
            problems.append(f"process {pid} still running: {cmd}")
    if mounts := host.mounts_under(h.base / "engines"):
        problems.append(f"mounts under {h.base}/engines: {mounts}")
    new = host.cgroup_dirs() - cgroups_before
    # the engines' shared parents, empty: theirs by design; remove them
    for d in sorted(new, key=len, reverse=True):
        parts = Path(d).parts  # (hierarchy, ..., name)
        rel = parts[1:] if not host.cgroup_v2_only() else parts
        if rel and rel[0] in ENGINE_PARENT_CGROUPS and (
                len(rel) == 1 or rel[:2] == ("libpod_parent", "conmon")):
            host.remove_cgroup_tree(host.CGROUP_ROOT / d)
    for d in sorted(host.cgroup_dirs() - cgroups_before):
        problems.append(f"cgroup left: {d}")
        host.remove_cgroup_tree(host.CGROUP_ROOT / d)
    return problems


@pytest.fixture(scope="session")
def busybox_rootfs(engines_host) -> Path:
    return make_rootfs(engines_host.base / "rootfs")


def _engine(engines_host, busybox_rootfs, cls, package):
    _fail_missing(package)
    base = engines_host.base / "engines" / cls.name
    base.mkdir(parents=True)
    engine = cls(base)
    engines_host.engines.append(engine)
    before = set(host.all_pids())
    t0 = time.monotonic()
    try:
        engine.start(busybox_rootfs)
    except (EngineError, AssertionError) as e:
        engine.stop(before)
        pytest.fail(f"{cls.name} did not start: {e}", pytrace=False)
    REPORT["startup"].append(f"{cls.name}: engine up in {engine.startup_seconds:.2f} s, "
                             f"with the image imported {time.monotonic() - t0:.2f} s")
    try:
        yield engine
    finally:
        engine.stop(before)


@pytest.fixture(scope="session")
def dockerd(engines_host, busybox_rootfs):
    yield from _engine(engines_host, busybox_rootfs, Dockerd, "docker.io")


@pytest.fixture(scope="session")
def podman_engine(engines_host, busybox_rootfs):
    yield from _engine(engines_host, busybox_rootfs, Podman, "podman")


@pytest.fixture(scope="session")
def containerd(engines_host, busybox_rootfs):
    yield from _engine(engines_host, busybox_rootfs, Containerd, "containerd")


class CliClient:
    """One test's view of docker or podman: names its containers, removes them afterwards."""

    def __init__(self, engine):
        self.engine = engine
        self.name = engine.name
        self.image = engine.image
        self.names: list[str] = []

    def cli(self, *args, **kw):
        return self.engine.cli(*args, **kw)

    def new_name(self) -> str:
        name = unique(f"t-{self.name}")
        self.names.append(name)
        return name

    def run(self, *opts, cmd=(), detach=False, name=None, timeout=60):
        """`run [opts] IMAGE cmd...`; returns (name, CompletedProcess)."""
        name = name or self.new_name()
        args = self.engine.run_args(name, *opts, detach=detach)
        return name, self.cli(*args, self.image, *cmd, timeout=timeout)

    def run_ok(self, *opts, cmd=(), detach=False, timeout=60):
        name, r = self.run(*opts, cmd=cmd, detach=detach, timeout=timeout)
        assert r.returncode == 0, f"{self.name} run failed ({r.returncode}): {r.stderr.strip()}"
        return name, r

    def inspect(self, name, fmt):
        return self.engine.inspect(name, fmt)

    def pid(self, name) -> int:
        return self.engine.pid(name)

    def cid(self, name):
        return self.engine.cid(name)

    def wait_status(self, name, status: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        now = ""
        while time.monotonic() < deadline:
            now = self.inspect(name, "{{.State.Status}}")
            if now == status:
                return now
            time.sleep(0.2)
        raise AssertionError(f"{name} is {now!r}, not {status!r}, after {timeout}s")

    def pyrun_state_dirs(self) -> set[str]:
        root = self.engine.pyrun_root
        return set(os.listdir(root)) if root.is_dir() else set()

    def cleanup(self) -> list[str]:
        """Remove this test's containers; what is still there afterwards."""
        ids = [c for c in map(self.cid, self.names) if c]
        mine = [n for n in self.names if self.cli("inspect", "--format", "{{.Id}}", n)
                .returncode == 0]
        self.engine.remove(*mine)
        left = []
        still = set(self.cli("ps", "-aq", "--no-trunc").stdout.split()) & set(ids)
        if still:
            left.append(f"{self.name} still lists {sorted(still)}")
        return left + _leftovers(ids, self.engine.pyrun_root)


def _leftovers(ids: list[str], pyrun_root: Path) -> list[str]:
    """After removal: cgroups named after a container id, pyrun state dirs, processes in
    those cgroups. Polls briefly (an engine may finish deleting just after it answers)."""
    if not ids:
        return []
    deadline = time.monotonic() + 5
    while True:
        cgroups = host.cgroups_named(ids)
        state = [i for i in ids if (pyrun_root / i).exists()]
        if not (cgroups or state) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    left = []
    if state:
        left.append(f"pyrun state left in {pyrun_root}: {state}")
    if cgroups:
        procs = set()
        for d in cgroups:
            try:
                procs.update((host.CGROUP_ROOT / d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        left.append(f"cgroups left: {cgroups}" + (f" holding pids {sorted(procs)}"
                                                  if procs else ""))
        for pid in procs:  # container processes this test started
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        time.sleep(0.2)
        for d in cgroups:
            host.remove_cgroup_tree(host.CGROUP_ROOT / d)
    return left


@pytest.fixture(params=["docker", "podman"])
def cli(request):
    engine = request.getfixturevalue({"docker": "dockerd", "podman": "podman_engine"}
                                     [request.param])
    client = CliClient(engine)
    yield client
    if left := client.cleanup():
        pytest.fail("left behind: " + "; ".join(left), pytrace=False)


class CtrClient:
    """One test's view of containerd through ctr."""

    name = "ctr"

    def __init__(self, engine: Containerd):
        self.engine = engine
        self.image = engine.image
        self.ids: list[str] = []

    def ctr(self, *args, **kw):
        return self.engine.ctr(*args, **kw)

    def new_id(self) -> str:
        cid = unique("t-ctr")
        self.ids.append(cid)
        return cid

    def run(self, *opts, cmd=(), detach=False, rm=False, timeout=60):
        cid = self.new_id()
        args = self.engine.run_args(cid, *opts, detach=detach, rm=rm)
        return cid, self.ctr(*args, *cmd, timeout=timeout)

    def run_ok(self, *opts, cmd=(), detach=False, rm=False, timeout=60):
        cid, r = self.run(*opts, cmd=cmd, detach=detach, rm=rm, timeout=timeout)
        assert r.returncode == 0, f"ctr run failed ({r.returncode}): {r.stderr.strip()}"
        return cid, r

    def pid(self, cid) -> int:
        return self.engine.task_pid(cid)

    def status(self, cid):
        return self.engine.task_status(cid)

    def wait_status(self, cid, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        now = None
        while time.monotonic() < deadline:
            now = self.status(cid)
            if now == status:
                return
            time.sleep(0.1)
        raise AssertionError(f"task {cid} is {now!r}, not {status!r}, after {timeout}s")

    def cleanup(self) -> list[str]:
        for cid in self.ids:
            self.engine.remove(cid)
        left = []
        listed = set(self.ctr("container", "ls", "-q").stdout.split()) & set(self.ids)
        if listed:
            left.append(f"ctr still lists {sorted(listed)}")
        return left + _leftovers(self.ids, self.engine.pyrun_root)


@pytest.fixture
def ctr(containerd):
    client = CtrClient(containerd)
    yield client
    if left := client.cleanup():
        pytest.fail("left behind: " + "; ".join(left), pytrace=False)

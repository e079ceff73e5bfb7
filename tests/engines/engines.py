"""The three engines, each started privately with pyrun as its runtime, with every piece of
its state under one temporary directory, and a small client for the tests.

    Dockerd     Debian's docker.io 20.10: dockerd + its own managed containerd, `pyrun` registered
                in daemon.json's `runtimes` and made the default runtime; client /usr/bin/docker.
    Podman      Debian's podman 4.3: no daemon; --root/--runroot/--tmpdir under the directory,
                `--runtime PYRUN`. pyrun keeps its state in its default root (/run/pyrun, a
                private tmpfs in the sandbox): podman's `--runtime-flag root=DIR` is not
                passed on to the `podman container cleanup` that conmon runs when a
                container exits, whose `delete` would then look in the default root.
    Containerd  Debian's containerd 1.6: its own config.toml (root, state, sockets, opt dir),
                `ctr run --runc-binary PYRUN --runc-root ...`: the runc shim v2 with BinaryName
                set to pyrun (ctr passes it as the runc options of the container).

`stop()` removes every container the engine has, stops it and waits for it, unmounts whatever
is still mounted under the directory, and removes it; what it had to clean by force is kept
in `forced` for the session's final report.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.engines import host
from tests.engines.image import layer_tar, write_oci_archive

ROOT = Path(__file__).resolve().parents[2]
PYRUN = os.environ.get("PYRUN", str(ROOT / ".venv" / "bin" / "pyrun"))

# Exact binaries of Debian's packages (a newer Docker CLI may be first on PATH).
BINARIES = {
    "docker.io": ["/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/docker-init"],
    "containerd": ["/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2"],
    "podman": ["/usr/bin/podman", "/usr/bin/conmon"],
}

# Diagnosis only, off by default: extra flags for every `docker/podman run`, e.g.
# PYRUN_ENGINES_RUN_FLAGS="--security-opt seccomp=unconfined" to look past a refusal.
EXTRA_RUN_FLAGS = os.environ.get("PYRUN_ENGINES_RUN_FLAGS", "").split()


def missing_binaries(package: str) -> list[str]:
    return [b for b in BINARIES[package] if not os.access(b, os.X_OK)]


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _entries(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


class EngineError(Exception):
    pass


class Engine:
    """What the three have in common: a directory, a log, a daemon process (or none)."""

    name = "engine"

    def __init__(self, base: Path):
        self.base = base
        self.log = base / "engine.log"
        self.proc: subprocess.Popen | None = None
        self.startup_seconds = 0.0
        self.forced: list[str] = []  # what stop() had to clean up by force
        self.leaks: list[str] = []   # what the engine or pyrun left: the final check fails
        self.state_before: set[str] = set()  # in a shared state root: not ours

    def _spawn(self, argv: list[str], env=None) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env, start_new_session=True,
                                         cwd=self.base)

    def _wait_until(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise EngineError(f"{self.name} exited {self.proc.returncode} while starting:"
                                  f"\n{_tail(self.log)}")
            if ready():
                return
            time.sleep(0.1)
        raise EngineError(f"{self.name}: {what} not ready after {timeout}s:\n{_tail(self.log)}")

    def _stop_daemon(self, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.forced.append(f"{self.name} ignored SIGTERM for {timeout}s: SIGKILL")
            self.proc.kill()
            self.proc.wait(10)

    def _kill_leftover_processes(self, before: set[int]) -> None:
        """Processes of this engine still alive after it stopped (shims, conmon, containers):
        only those whose command line or root points into our directory, and that were not
        there before the engine started."""
        deadline = time.monotonic() + 10
        while True:
            left = {pid: cmd for pid, cmd in self._own_processes().items() if pid not in before}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for pid, cmd in left.items():
            self.leaks.append(f"process {pid} still running after stop (killed): {cmd}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _own_processes(self) -> dict[int, str]:
        base = str(self.base)
        out = {}
        for pid in host.all_pids():
            if pid == os.getpid():
                continue
            argv = host.cmdline_of(pid)
            try:
                root = os.readlink(f"/proc/{pid}/root")
            except OSError:
                root = ""
            if argv and (base in " ".join(argv) or root.startswith(base)):
                out[pid] = " ".join(argv)
        return out

    def _unmount_and_remove(self) -> None:
        root = getattr(self, "pyrun_root", None)
        if root is not None and (state := sorted(_entries(root) - self.state_before)):
            self.leaks.append(f"pyrun state left in {root}: {state}")
        if left := host.unmount_all_under(self.base):
            self.forced.append(f"unmounted after stop: {sorted(set(left))}")
        shutil.rmtree(self.base, ignore_errors=True)
        if self.base.exists():
            self.forced.append(f"could not remove {self.base}")


class CliEngine(Engine):
    """docker and podman: the same command line for everything the tests do."""

    image = ""
    pyrun_root: Path

    def __init__(self, base: Path):
        super().__init__(base)
        self.cids = base / "cids"

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def cli(self, *args, timeout: float = 60, check: bool = False, **kw):
        # in our directory: conmon writes a file named `oom` into its working directory
        kw.setdefault("cwd", self.base)
        return host.run([*self.command(), *map(str, args)], timeout=timeout, check=check,
                        env=self.env(), **kw)

    def run_args(self, name: str, *opts, detach: bool = False) -> list[str]:
        """`run` with the flags every test container gets: a name, a cidfile (so that a --rm
        container's id is known afterwards), no network, the diagnosis flags if set."""
        return ["run", "--name", name, "--cidfile", str(self.cids / name), "--network", "none",
                *(["-d"] if detach else []), *self.engine_run_flags(), *EXTRA_RUN_FLAGS, *opts]

    def engine_run_flags(self) -> tuple[str, ...]:
        """What this engine's `run` needs on every host the suite runs on."""
        return ()

    def inspect(self, name: str, fmt: str) -> str:
        r = self.cli("inspect", "--format", fmt, name, check=True)
        return r.stdout.strip()

    def pid(self, name: str) -> int:
        return int(self.inspect(name, "{{.State.Pid}}"))

    def cid(self, name: str) -> str | None:
        try:
            return (self.cids / name).read_text().strip() or None
        except OSError:
            return None

    # `rm -f`: podman first stops with the container's stop timeout (10 s for a `sleep` as
    # PID 1, which ignores SIGTERM); docker kills at once. Cleanup need not wait.
    rm_force: tuple[str, ...] = ("rm", "-f")

    def remove(self, *names: str) -> None:
        if names:
            self.cli(*self.rm_force, *names, timeout=120)

    def remove_all(self) -> None:
        self.remove(*self.cli("ps", "-aq", timeout=60).stdout.split())


class Dockerd(CliEngine):
    name = "docker"
    image = "busybox:pyrun"

    def __init__(self, base: Path):
        super().__init__(base)
        self.sock = base / "docker.sock"
        self.exec_root = base / "exec"
        # dockerd 20.10 gives every runtime the shim option Root EXEC_ROOT/runtime-runc
        # (defaultV2ShimConfig), whatever its name; the shim adds containerd's namespace
        self.pyrun_root = self.exec_root / "runtime-runc" / "moby"

    def command(self) -> list[str]:
        return ["/usr/bin/docker", "-H", f"unix://{self.sock}"]

    def env(self) -> dict[str, str]:
        # the client's own config (contexts, auth) stays here too, not in ~/.docker
        return {**os.environ, "DOCKER_CONFIG": str(self.base / "client")}

    def start(self, rootfs: Path) -> None:
        self.cids.mkdir(parents=True)
        daemon_json = self.base / "daemon.json"
        daemon_json.write_text(json.dumps({
            "runtimes": {"pyrun": {"path": PYRUN}},
            "default-runtime": "pyrun",
            "deprecated-key-path": str(self.base / "key.json"),
        }, indent=2))
        t0 = time.monotonic()
        self._spawn([
            "/usr/sbin/dockerd", "--config-file", str(daemon_json),
            "--data-root", str(self.base / "data"), "--exec-root", str(self.exec_root),
            "--pidfile", str(self.base / "docker.pid"), "-H", f"unix://{self.sock}",
            "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
            "--userland-proxy=false", "--log-level=info",
        ])
        self._wait_until(lambda: self.sock.exists() and self.cli("version").returncode == 0,
                         60, "API socket")
        self.startup_seconds = time.monotonic() - t0
        tarball = self.base / "rootfs.tar"
        tarball.write_bytes(layer_tar(rootfs))
        self.cli("import", tarball, self.image, check=True, timeout=120)

    def stop(self, before: set[int]) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.remove_all()
        finally:
            self._stop_daemon()
            self._kill_leftover_processes(before)
            self._unmount_and_remove()


class Podman(CliEngine):
    name = "podman"
    image = "localhost/busybox:pyrun"
    rm_force = ("rm", "-f", "-t", "0")

    def __init__(self, base: Path):
        super().__init__(base)
        # the runtime's default --root (runc's and crun's when they stand in for a comparison)
        self.pyrun_root = Path({"runc": "/run/runc", "crun": "/run/crun"}
                               .get(os.path.basename(PYRUN), "/run/pyrun"))
        self.state_before = _entries(self.pyrun_root)

    def command(self) -> list[str]:
        b = self.base
        return ["/usr/bin/podman", "--root", str(b / "root"), "--runroot", str(b / "runroot"),
                "--tmpdir", str(b / "tmp"), "--volumepath", str(b / "volumes"),
                "--network-config-dir", str(b / "networks"), "--runtime", PYRUN,
                "--conmon", "/usr/bin/conmon",
                "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--storage-driver", "overlay"]

    def engine_run_flags(self) -> tuple[str, ...]:
        # Podman 4.3 asks for nofile and nproc of 1048576 whenever it could set its own nproc
        # to the pid namespace's pid_max (containers/common's default ulimits), which also
        # lowers its own, and so its runtime's, nproc to pid_max. On a host where root lacks
        # CAP_SYS_RESOURCE no runtime may raise a hard limit that far (runc: "error setting
        # rlimit type 7: operation not permitted"): ask for what the runtime will have, as a
        # user on such a host must.
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # finite: at most fs.nr_open
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        if nproc == resource.RLIM_INFINITY or nproc > pid_max:
            nproc = pid_max
        return ("--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}")

    def env(self) -> dict[str, str]:
        # podman's temporary files (image import) go to TMPDIR, /var/tmp by default
        (self.base / "tmp").mkdir(exist_ok=True)
        return {**os.environ, "TMPDIR": str(self.base / "tmp")}

    def start(self, rootfs: Path) -> None:
        """No daemon: "starting" is making the store and importing the image."""
        self.cids.mkdir(parents=True)
        t0 = time.monotonic()
        tarball = self.base / "rootfs.tar"
        tarball.write_bytes(layer_tar(rootfs))
        self.cli("import", "-q", tarball, self.image, check=True, timeout=120)
        self.startup_seconds = time.monotonic() - t0

    def stop(self, before: set[int]) -> None:
        try:
            self.remove_all()
            # containers/storage keeps its overlay home bind-mounted: let it undo that itself
            r = self.cli("system", "reset", "--force", timeout=120)
            if r.returncode != 0:
                self.forced.append(f"podman system reset: {r.stderr.strip()}")
        finally:
            self._kill_leftover_processes(before)
            self._unmount_and_remove()


class Containerd(Engine):
    name = "ctr"
    image = "docker.io/library/busybox:pyrun"
    namespace = "pyrun-engines"

    def __init__(self, base: Path):
        super().__init__(base)
        self.sock = base / "containerd.sock"
        self.runc_root = base / "pyrun"  # --runc-root of every container
        # the shim runs pyrun with --root RUNC_ROOT/NAMESPACE
        self.pyrun_root = self.runc_root / self.namespace
        self.fifo_dir = base / "fifo"

    def start(self, rootfs: Path) -> None:
        b = self.base
        self.runc_root.mkdir()
        self.fifo_dir.mkdir()
        config = b / "config.toml"
        config.write_text(f"""version = 2
root = "{b}/root"
state = "{b}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = "{b}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{b}/opt"
""")
        t0 = time.monotonic()
        self._spawn(["/usr/bin/containerd", "--config", str(config), "--log-level", "info"])
        self._wait_until(lambda: self.sock.exists() and self.ctr("version").returncode == 0,
                         60, "grpc socket")
        self.startup_seconds = time.monotonic() - t0
        archive = write_oci_archive(rootfs, b / "busybox-oci.tar", self.image)
        self.ctr("image", "import", archive, check=True, timeout=120)

    def ctr(self, *args, timeout: float = 60, check: bool = False, **kw):
        kw.setdefault("cwd", self.base)
        return host.run([*self.ctr_command(), *map(str, args)], timeout=timeout, check=check,
                        **kw)

    def ctr_command(self) -> list[str]:
        return ["/usr/bin/ctr", "--address", str(self.sock), "-n", self.namespace]

    def run_args(self, cid: str, *opts, detach=False, rm=False) -> list[str]:
        """`ctr run` with pyrun as the runc shim's binary; the caller appends the command."""
        return ["run", "--runc-binary", PYRUN, "--runc-root", str(self.runc_root),
                "--fifo-dir", str(self.fifo_dir), *(["-d"] if detach else []),
                *(["--rm"] if rm else []), *opts, self.image, cid]

    def task_pid(self, cid: str) -> int:
        for line in self.ctr("task", "ls", check=True).stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return int(fields[1])
        raise LookupError(f"no task {cid}")

    def task_status(self, cid: str) -> str | None:
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[2]
        return None

    def remove(self, cid: str) -> None:
        """Kill, delete the task, delete the container; each step may have nothing to do."""
        if self.task_status(cid) not in (None, "STOPPED"):
            self.ctr("task", "kill", "-s", "SIGKILL", "--all", cid)
            deadline = time.monotonic() + 10
            while self.task_status(cid) not in (None, "STOPPED") and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
        self.ctr("task", "delete", "--force", cid)
        self.ctr("container", "delete", cid)

    def remove_all(self) -> None:
        r = self.ctr("container", "ls", "-q")
        for cid in r.stdout.split():
            self.remove(cid)

    def stop(self, before: set[int]) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.remove_all()
        finally:
            self._stop_daemon()
            self._kill_leftover_processes(before)
            self._unmount_and_remove()


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"

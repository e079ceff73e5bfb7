"""Benchmark pyrun against runc and crun: run, create/start/delete, run -d, exec, state, list, RSS.

    bench/bench.py [--scenario run,lifecycle,run-d,exec,state,list,rss] [--runs 50] ...

Scenarios (all of them by default, in this order; each prints its own table)
  run        `RUNTIME run -b BUNDLE ID` of /bin/true: create, start, wait and delete in one command.
  lifecycle  `create --pid-file F -b BUNDLE ID`, `start ID`, `delete ID` of /bin/true: one sample
             is the three commands' times summed, and each step's median is shown too. `start`
             returns once the process has been started, so /bin/true may still be running when
             it returns: before `delete` the script waits, untimed, for the init pid (from the
             pid file) to leave /proc or become a zombie, by reading /proc/PID/stat (no runtime
             command), so `delete` runs without --force on a stopped container, as a caller
             that waited for the exit would run it.
  run-d      `run -d` of `sleep 1000`, then `delete --force`: one sample is both commands.
  exec       `exec ID /bin/true` into a running container (`sleep 1000`; one per runtime, made
             with `run -d` before the warm-up and deleted with `delete --force` after).
  state      `state ID` of one container while --containers (200) are present, all created
             (the init parked before the user process, waiting for `start`) with `create`
             before the warm-up and deleted with `delete --force` once state, list and rss are
             done. The same 200 serve state, list and rss; an `-f json` list checks first that
             each runtime lists all of them.
  list       `list` (table) and `list -f json` (runc's, crun's and pyrun's flag) with those 200.
  rss        VmRSS and RssAnon of each of those 200 parked inits, from /proc/PID/status with the
             pid from `state` (untimed): medians over the 200, per runtime. Also any process of
             the runtime still running after `create` returned (one whose command line names
             our state root, other than the inits): none for pyrun, runc or crun today.

Method
  * One busybox rootfs (examples/make-rootfs.sh) and runc's default `runc spec` config, terminal
    off; the bundles differ only in process.args (/bin/true or `sleep 1000`) and share the rootfs
    by its absolute path.
  * Each runtime gets its own --root in a temp dir and every container a fresh id, ours alone
    (b<pid>-<scenario>-<runtime>-<n>). A command is timed with time.perf_counter() from before
    its fork to its exit, seen on its pidfd the moment it happens (subprocess's wait with a
    timeout polls with a doubling sleep: figures would snap to 7.5, 15.5, 31.5, 63.5 ms), so
    the figure is what a caller sees, including interpreter start-up for pyrun. stdin is
    /dev/null; stdout and stderr go to temp files (not pipes: a created or detached container
    inherits them and would hold a pipe open).
  * Each table: warm-up samples first (--warmup), then --runs timed rounds. Each round takes one
    sample of every subject, round-robin, the starting subject rotated each round, so machine
    noise and the after-effects of the previous container (cgroup teardown, page cache) fall on
    all subjects alike. Compare ratios within one invocation.
  * A non-zero exit or any stderr output fails the sample; failures are counted and the first
    one's stderr is printed. A subject that fails all its warm-up samples (or its set-up) is
    reported as failed and not timed. The exit status is non-zero if pyrun failed anything.
  * Every container made is deleted at the end (`delete --force` of each of our ids still in a
    state root), also after a failure or Ctrl-C.
  * Context rows of `run`: /bin/true exec'ed directly (the subprocess floor), and with
    --python-floor the venv's `python -c pass` and `python -c "import json"`.
  * --network adds two pyrun rows to `run`, with `run --network bridge`, the whole benchmark then
    running in a network namespace of its own (bridges and rules are made there, never on the
    host): "pyrun net first", where each run is its bridge's only container (the bridge, its
    rules and the nftables table are made and removed every time), and "pyrun net", where a
    created container keeps its bridge up (the usual case). Each has its own bridge and subnet.
  * --json FILE writes every table's raw samples (and each step's), failures and summaries.

Caveats
  * crun 1.8 refuses a hybrid cgroup host where the v2 hierarchy it sees offers any controller
    ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"): on this host,
    hugetlb, at the cgroup root. There crun runs inside
    `unshare -m bash -c 'mount -t cgroup -o hugetlb none MNT; time crun "$@"'` (hugetlb is
    bound to a v1 hierarchy until that mount namespace goes; MNT is in our temp dir). "crun
    raw" is that whole command timed from outside; "crun" is crun alone, timed by bash's `time`
    (fork + exec + wait, ms resolution) inside the namespace, and the wrapper overhead is raw
    minus inner, paired per command. Timing the wrapper separately and subtracting does not
    work: the mount costs 6 to 50 ms depending on how long ago the previous wrapper's hierarchy
    went away.
    Below the root of a cgroup namespace (as in /work/shared/tools/sandbox) unified's
    cgroup.controllers is empty, crun runs as is and only one crun row is shown; the wrapper
    could not work there anyway (a new v1 hierarchy can be mounted only from the initial cgroup
    namespace). On a pure cgroup v2 host crun runs unwrapped too.
  * lifecycle's create includes writing the pid file (a few µs), which `run` does not do.
  * runc 1.1's `delete --force` of a running (or created) container sends SIGKILL and sleeps
    100 ms before it first looks whether the init is gone: run-d's runc figure includes it.
  * Medians on a 2-core VM still move by a few ms between invocations; compare ratios from the
    same invocation, not absolute figures across invocations.
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = ("pyrun", "runc", "crun")
SCENARIOS = ("run", "lifecycle", "run-d", "exec", "state", "list", "rss")
POPULATION_SCENARIOS = ("state", "list", "rss")  # these share the --containers created ones
CALL_TIMEOUT_S = 30
EXIT_WAIT_S = 5  # lifecycle: how long /bin/true may take to exit after `start`
# $0 is the mount point; `time` reports crun's wall time alone, in seconds, as stdout's last line.
CRUN_HYBRID_WRAPPER = ('mount -t cgroup -o hugetlb none "$0" || exit 125; '
                       'TIMEFORMAT=%3R; { time "$@" 2>&3; } 3>&2 2>&1')
WRAPPER_TIME = re.compile(rb"(\d+\.\d+)\s*\Z")


@dataclass
class Runtime:
    """One way of calling a runtime: an argv prefix and a state root of its own."""

    name: str
    argv: list
    root: Path
    timed_inside: bool = False  # crun's wrapper: stdout's last line is crun's own time
    env: dict | None = None  # added to the environment of its commands
    run_flags: list = field(default_factory=list)  # after `run`, e.g. --network bridge
    ids: list = field(default_factory=list)  # every container id given to it, for the clean-up

    def new_id(self, tag):
        container_id = f"b{os.getpid()}-{tag}-{self.name.replace(' ', '-')}-{len(self.ids)}"
        self.ids.append(container_id)
        return container_id


@dataclass
class Call:
    """One command's outcome: wall time (ms), crun's own time when wrapped, stdout, error."""

    ms: float
    inner_ms: float | None = None
    stdout: bytes = b""
    error: str | None = None

    @property
    def own_ms(self):
        return self.ms if self.inner_ms is None else self.inner_ms


def call_argv(argv, env=None, timed_inside=False):
    """Run ARGV once and time it. stdout and stderr go to files: a container that `create` or
    `run -d` leaves running inherits them, and would keep a pipe open."""
    env = {**os.environ, **env} if env else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env)
            exited = wait_for_exit(proc, CALL_TIMEOUT_S)
        except OSError as exc:
            return Call((time.perf_counter() - start) * 1000, error=f"{type(exc).__name__}: {exc}")
        result = Call((time.perf_counter() - start) * 1000)
        if not exited:
            result.error = f"timed out after {CALL_TIMEOUT_S} s"
            return result
        out.seek(0)
        err.seek(0)
        result.stdout, stderr = out.read(), err.read()
    if proc.returncode or stderr:
        result.error = (stderr.decode(errors="replace")
                        or f"exit status {proc.returncode}, no stderr")
    elif timed_inside:
        match = WRAPPER_TIME.search(result.stdout)
        if match is None:
            result.error = f"no time from the crun wrapper on stdout: {result.stdout[-200:]!r}"
        else:
            result.inner_ms = float(match[1]) * 1000
            result.stdout = result.stdout[:match.start()]
    return result


def wait_for_exit(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for PROC to exit, waking the moment it does: poll() on its pidfd. (Not
    subprocess's wait(timeout): that polls with a doubling sleep, so every figure would be
    rounded up to 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 or 63.5 ms.) False, PROC killed, on timeout."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        exited = bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(pidfd)
    if not exited:
        proc.kill()
    proc.wait()
    return exited


def call(runtime, *args):
    """`RUNTIME --root ROOT ARGS...`, timed."""
    return call_argv(runtime.argv + ["--root", str(runtime.root), *args], runtime.env,
                     runtime.timed_inside)


@dataclass
class Series:
    """One row of a table: a runtime (or a fixed command) and the samples taken of it."""

    name: str
    runtime: Runtime | None = None
    argv: list | None = None  # a fixed command instead (the context rows of `run`)
    target: str | None = None  # the container its samples act on (exec, state)
    samples_ms: list = field(default_factory=list)  # per sample, its commands' wall times summed
    inner_ms: list = field(default_factory=list)  # the same, crun's own times (when wrapped)
    steps_ms: dict = field(default_factory=dict)  # step -> its times (crun's own when wrapped)
    failures: int = 0
    first_error: str | None = None
    dropped: bool = False  # failed its set-up or every warm-up sample: not timed

    @property
    def timed_inside(self):
        return self.runtime is not None and self.runtime.timed_inside

    @property
    def failed(self):
        return self.dropped or (self.failures > 0 and not self.samples_ms)

    @property
    def is_pyrun(self):
        return self.runtime is not None and self.runtime.name.startswith("pyrun")

    def fail(self, error):
        self.failures += 1
        self.first_error = self.first_error or error

    def record(self, steps):
        self.samples_ms.append(sum(c.ms for _, c in steps))
        if self.timed_inside:
            self.inner_ms.append(sum(c.inner_ms for _, c in steps))
        for step, c in steps:
            self.steps_ms.setdefault(step, []).append(c.own_ms)

    def to_json(self):
        return {"argv": self.runtime.argv if self.runtime else self.argv,
                "samples_ms": self.samples_ms, "inner_ms": self.inner_ms,
                "steps_ms": self.steps_ms, "failures": self.failures, "failed": self.failed,
                "first_error": self.first_error, "summary": summarize(self.samples_ms),
                "inner_summary": summarize(self.inner_ms)}


@dataclass
class Table:
    """What one table times: a sample function taking a Series, over its rows."""

    scenario: str
    label: str  # short, for the ratios line and the JSON
    title: str
    sample: object  # sample(series) -> [(step, Call)]; the sample failed if the last Call did
    series: list
    steps: tuple = ()  # step names, each step's median shown when there are several


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyrun", default=str(REPO / ".venv/bin/pyrun"), help="pyrun to time")
    parser.add_argument("--scenario", default="all",
                        help=f"comma-separated, of {','.join(SCENARIOS)} (default: all)")
    parser.add_argument("--runs", type=int, default=50, help="timed samples each (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up samples each (default 5)")
    parser.add_argument("--containers", type=int, default=200,
                        help="created containers present for state, list and rss (default 200)")
    parser.add_argument("--only", default=",".join(RUNTIMES), help="comma-separated runtimes")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures to FILE")
    parser.add_argument("--seccomp", metavar="FILE",
                        help="put this seccomp profile (Docker's and podman's format, e.g. "
                             "/usr/share/containers/seccomp.json) in the bundles")
    parser.add_argument("--network", action="store_true",
                        help="also time pyrun run --network bridge (in a network namespace)")
    parser.add_argument("--python-floor", action="store_true",
                        help="also time the venv's `python -c pass` and `python -c 'import json'`")
    args = parser.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(RUNTIMES)
    if unknown or not args.only:
        parser.error(f"--only takes a subset of {','.join(RUNTIMES)}, got {sorted(unknown)}")
    wanted = SCENARIOS if args.scenario == "all" else [
        name.strip() for name in args.scenario.split(",") if name.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown or not wanted:
        parser.error(f"--scenario takes all or some of {','.join(SCENARIOS)}, "
                     f"got {sorted(unknown)}")
    args.scenarios = [name for name in SCENARIOS if name in wanted]
    if args.runs < 1 or args.warmup < 0 or args.containers < 1:
        parser.error("--runs and --containers must be >= 1, --warmup >= 0")
    return args


def is_pure_cgroup2():
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def crun_needs_wrapper():
    """True where crun 1.8 would refuse to run: a hybrid host whose v2 hierarchy, as this
    process sees it, offers a controller (what crun itself checks)."""
    if is_pure_cgroup2():
        return False
    try:
        return bool(Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().split())
    except OSError:
        return False


def build_bundles(workdir, seccomp=None):
    """A busybox rootfs and two bundles on it, runc's default spec without a terminal (with the
    seccomp profile given, as Docker and podman turn it into linux.seccomp): "true" runs
    /bin/true, "sleep" runs `sleep 1000`."""
    rootfs = workdir / "rootfs"
    subprocess.run(["sh", str(REPO / "examples/make-rootfs.sh"), str(rootfs)], check=True)
    spec_dir = workdir / "spec"
    spec_dir.mkdir()
    subprocess.run(["runc", "spec", "--bundle", str(spec_dir)], check=True)
    config = json.loads((spec_dir / "config.json").read_text())
    config["root"]["path"] = str(rootfs)
    config["process"]["terminal"] = False
    if seccomp:
        sys.path.insert(0, str(REPO))
        from tests.seccomp_profiles import engine_profile, to_oci

        caps = config["process"]["capabilities"]["bounding"]
        config["linux"]["seccomp"] = to_oci(engine_profile(Path(seccomp), caps))
    bundles = {}
    for name, process_args in (("true", ["/bin/true"]), ("sleep", ["sleep", "1000"])):
        bundle = workdir / f"bundle-{name}"
        bundle.mkdir()
        config["process"]["args"] = process_args
        (bundle / "config.json").write_text(json.dumps(config, indent=2))
        bundles[name] = str(bundle)
    return bundles


def crun_wrapper(mountpoint):
    """argv prefix running and timing crun with hugetlb bound to v1 in a private mount ns."""
    return ["unshare", "-m", "bash", "-c", CRUN_HYBRID_WRAPPER, str(mountpoint), "crun"]


def make_runtimes(args, workdir):
    runtimes = []
    wrap_crun = crun_needs_wrapper()
    for name in args.only:
        argv, timed_inside = [name], False
        if name == "pyrun":
            argv = [args.pyrun]
        elif name == "crun" and wrap_crun:
            mountpoint = workdir / "hugetlb"
            mountpoint.mkdir(exist_ok=True)
            argv, timed_inside = crun_wrapper(mountpoint), True
        root = workdir / "roots" / name
        root.mkdir(parents=True)
        runtimes.append(Runtime(name, argv, root, timed_inside))
    return runtimes


# (name, bridge, subnet, keeper): a keeper container holds its bridge up between runs
NETWORK_SUBJECTS = (("pyrun net first", "pyrunb0", "10.73.10.0/24", False),
                    ("pyrun net", "pyrunb1", "10.73.11.0/24", True))


def enter_network_namespace():
    """This process (and so every run) into a network namespace of its own, lo up."""
    sys.path.insert(0, str(REPO / "src"))
    from pyrun.linux import network, syscalls

    syscalls.unshare(syscalls.CLONE_NEWNET)
    network.loopback_up()


def network_runtimes(args, workdir):
    """The two pyrun --network bridge subjects of `run`; "pyrun net" still needs its keeper."""
    runtimes = []
    for name, bridge, subnet, _keeper in NETWORK_SUBJECTS:
        root = workdir / "roots" / name.replace(" ", "-")
        root.mkdir(parents=True)
        runtimes.append(Runtime(name, [args.pyrun], root, run_flags=["--network", "bridge"],
                                env={"PYRUN_BRIDGE": bridge, "PYRUN_SUBNET": subnet}))
    return runtimes


def summarize(samples):
    if not samples:
        return None
    ordered = sorted(samples)
    if len(ordered) > 1:
        deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    else:
        deciles = ordered * 9
    return {"median": statistics.median(ordered), "p10": deciles[0], "p90": deciles[-1],
            "min": ordered[0], "mean": statistics.fmean(ordered)}


def proc_status(pid):
    """/proc/PID/status as {field: value}; {} if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def wait_exit(pid, timeout_s=EXIT_WAIT_S):
    """Wait until PID has left /proc or is a zombie; False if it is still running at the end."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = proc_status(pid).get("State", "Z")
        if state.startswith(("Z", "X")):
            return True
        time.sleep(0.0005)
    return False


class Bench:
    """The scenarios' set-up, sample functions and tear-down over one set of runtimes."""

    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.bundles = build_bundles(workdir, args.seccomp)
        self.runtimes = make_runtimes(args, workdir)
        self.extra_runtimes = network_runtimes(args, workdir) if args.network else []
        self.population = {}  # runtime name -> ids of its created containers
        self.setup_errors = []  # (runtime name, what, error)
        self.rss = {}  # runtime name -> {"VmRSS": [kB...], "RssAnon": [...], "left": [...]}

    def all_runtimes(self):
        return self.runtimes + self.extra_runtimes

    def setup_failed(self, runtime, what, error):
        self.setup_errors.append((runtime.name, what, error))
        print(f"{runtime.name}: {what} failed: {error.strip()}", file=sys.stderr, flush=True)

    def discard(self, runtime, container_id):
        """`delete --force` one container, untimed, errors ignored (the final clean-up checks)."""
        call(runtime, "delete", "--force", container_id)

    # --- run ---

    def run_table(self):
        series = [Series(rt.name, rt) for rt in self.runtimes + self.extra_runtimes]
        series.append(Series("/bin/true", argv=["/bin/true"]))
        if self.args.python_floor:
            python = REPO / ".venv/bin/python"
            python = str(python) if python.exists() else sys.executable
            series.append(Series("python -c pass", argv=[python, "-c", "pass"]))
            series.append(Series("python import json", argv=[python, "-c", "import json"]))
        for rt in self.extra_runtimes:
            if rt.name == "pyrun net":  # its keeper, created (init waiting), holds the bridge up
                keeper = rt.new_id("keeper")
                result = call(rt, "create", "-b", self.bundles["true"], *rt.run_flags, keeper)
                if result.error:
                    self.setup_failed(rt, "create of the keeper", result.error)
                    next(s for s in series if s.runtime is rt).dropped = True
        return Table("run", "run", "run of /bin/true", self.sample_run, series)

    def sample_run(self, series):
        if series.runtime is None:
            return [("run", call_argv(series.argv))]
        rt = series.runtime
        container_id = rt.new_id("run")
        return [("run", call(rt, "run", *rt.run_flags, "-b", self.bundles["true"],
                             container_id))]

    # --- lifecycle ---

    def lifecycle_table(self):
        return Table("lifecycle", "lifecycle", "create + start + delete of /bin/true (a sample "
                     "is the three; delete once it exited)", self.sample_lifecycle,
                     [Series(rt.name, rt) for rt in self.runtimes], ("create", "start", "delete"))

    def sample_lifecycle(self, series):
        rt = series.runtime
        container_id = rt.new_id("lc")
        pid_file = self.workdir / f"{container_id}.pid"
        steps = [("create", call(rt, "create", "--pid-file", str(pid_file),
                                 "-b", self.bundles["true"], container_id))]
        if steps[-1][1].error:
            return steps
        try:
            pid = int(pid_file.read_text())
            pid_file.unlink()
        except (OSError, ValueError) as exc:
            self.discard(rt, container_id)
            return steps + [("start", Call(0, error=f"pid file: {exc}"))]
        steps.append(("start", call(rt, "start", container_id)))
        if steps[-1][1].error:
            self.discard(rt, container_id)
            return steps
        if not wait_exit(pid):
            self.discard(rt, container_id)
            return steps + [("delete", Call(0, error=f"/bin/true (pid {pid}) still running "
                                                     f"{EXIT_WAIT_S} s after start"))]
        steps.append(("delete", call(rt, "delete", container_id)))
        if steps[-1][1].error:
            self.discard(rt, container_id)
        return steps

    # --- run -d ---

    def run_d_table(self):
        return Table("run-d", "run -d", "run -d + delete --force of `sleep 1000`",
                     self.sample_run_d,
                     [Series(rt.name, rt) for rt in self.runtimes], ("run -d", "delete -f"))

    def sample_run_d(self, series):
        rt = series.runtime
        container_id = rt.new_id("rd")
        steps = [("run -d", call(rt, "run", "-d", "-b", self.bundles["sleep"], container_id))]
        if not steps[-1][1].error:
            steps.append(("delete -f", call(rt, "delete", "--force", container_id)))
        return steps

    # --- exec ---

    def exec_table(self):
        """One running `sleep 1000` container per runtime; exec_teardown deletes them."""
        series = []
        for rt in self.runtimes:
            s = Series(rt.name, rt, target=rt.new_id("exec"))
            result = call(rt, "run", "-d", "-b", self.bundles["sleep"], s.target)
            if result.error:
                self.setup_failed(rt, "run -d of the exec container", result.error)
                s.fail(result.error)
                s.dropped = True
            series.append(s)
        return Table("exec", "exec", "exec of /bin/true into a running container",
                     self.sample_exec, series)

    def sample_exec(self, series):
        return [("exec", call(series.runtime, "exec", series.target, "/bin/true"))]

    def exec_teardown(self, table):
        for s in table.series:
            self.discard(s.runtime, s.target)

    # --- state, list, rss: --containers created containers per runtime ---

    def create_population(self):
        """--containers `create`s per runtime, round-robin; a runtime that fails one stops."""
        n = self.args.containers
        print(f"creating {n} containers each ({', '.join(rt.name for rt in self.runtimes)})",
              flush=True)
        active = list(self.runtimes)
        for rt in active:
            self.population[rt.name] = []
        for _ in range(n):
            for rt in list(active):
                container_id = rt.new_id("pop")
                result = call(rt, "create", "-b", self.bundles["true"], container_id)
                if result.error:
                    self.setup_failed(rt, f"create of container {len(self.population[rt.name])}"
                                      f" of {n}", result.error)
                    active.remove(rt)
                else:
                    self.population[rt.name].append(container_id)
        for rt in active:
            self.check_list(rt)

    def check_list(self, rt):
        """`list -f json` must show every created container as created."""
        result = call(rt, "list", "-f", "json")
        try:
            listed = {c["id"]: c["status"] for c in json.loads(result.stdout or b"null") or []}
        except (ValueError, TypeError, KeyError) as exc:
            listed, result.error = {}, result.error or f"list -f json: {exc}"
        ours = self.population[rt.name]
        missing = [i for i in ours if listed.get(i) != "created"]
        if result.error or missing:
            self.setup_failed(rt, "list check", result.error or
                              f"{len(missing)} of {len(ours)} not listed as created, "
                              f"e.g. {missing[0]}: {listed.get(missing[0])}")

    def population_ready(self, rt):
        return len(self.population.get(rt.name, ())) == self.args.containers

    def population_series(self, target=False):
        series = []
        for rt in self.runtimes:
            ids = self.population.get(rt.name) or [None]
            s = Series(rt.name, rt, target=ids[len(ids) // 2] if target else None)
            if not self.population_ready(rt):
                s.dropped = True
                s.fail(f"only {len(self.population.get(rt.name, ()))} of "
                       f"{self.args.containers} containers could be created")
            series.append(s)
        return series

    def state_table(self):
        return Table("state", "state", f"state of one container, {self.args.containers} present",
                     self.sample_state, self.population_series(target=True))

    def sample_state(self, series):
        return [("state", call(series.runtime, "state", series.target))]

    def list_tables(self):
        n = self.args.containers
        return [Table("list", "list", f"list, {n} containers present", self.sample_list,
                      self.population_series()),
                Table("list", "list -f json", f"list -f json, {n} containers present",
                      self.sample_list_json, self.population_series())]

    def sample_list(self, series):
        return [("list", call(series.runtime, "list"))]

    def sample_list_json(self, series):
        return [("list -f json", call(series.runtime, "list", "-f", "json"))]

    def measure_rss(self):
        """VmRSS and RssAnon (kB) of every created container's init (pid from `state`), and of
        any process left running that names the runtime's state root in its command line."""
        inits = set()
        for rt in self.runtimes:
            figures = self.rss[rt.name] = {"VmRSS": [], "RssAnon": [], "left": [], "errors": 0}
            for container_id in self.population.get(rt.name, ()):
                result = call(rt, "state", container_id)
                try:
                    pid = json.loads(result.stdout)["pid"]
                except (ValueError, KeyError, TypeError):
                    pid = None
                status = proc_status(pid) if pid and not result.error else {}
                if "VmRSS" not in status:
                    figures["errors"] += 1
                    figures.setdefault("first_error", result.error or f"no init for pid {pid}")
                    continue
                inits.add(pid)
                for key in ("VmRSS", "RssAnon"):
                    figures[key].append(int(status[key].split()[0]))
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) in inits or int(pid) == os.getpid():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            for rt in self.runtimes:
                if str(rt.root).encode() in cmdline:
                    rss = proc_status(pid).get("VmRSS", "0").split()[0]
                    self.rss[rt.name]["left"].append({"pid": int(pid), "VmRSS": int(rss),
                                                      "cmdline": b" ".join(cmdline).decode(
                                                          errors="replace").strip()})

    def delete_population(self):
        for rt in self.runtimes:
            for container_id in self.population.pop(rt.name, ()):
                self.discard(rt, container_id)

    def remove_leftovers(self):
        """`delete --force` every container of ours still in a state root."""
        for rt in self.all_runtimes():
            if not rt.root.exists():
                continue
            for container_id in sorted(set(rt.ids) & set(os.listdir(rt.root))):
                self.discard(rt, container_id)
                if (rt.root / container_id).exists():
                    print(f"warning: {rt.name} container {container_id} could not be deleted",
                          file=sys.stderr)


def take_sample(series, table, record):
    steps = table.sample(series)
    error = steps[-1][1].error
    if error is not None:
        series.fail(error)
    elif record:
        series.record(steps)


def run_rounds(table, rounds, record):
    """ROUNDS round-robin passes over the table's series, the first one rotating each round."""
    for round_index in range(rounds):
        active = [s for s in table.series if not s.dropped]
        if not active:
            return
        shift = round_index % len(active)
        for series in active[shift:] + active[:shift]:
            take_sample(series, table, record)


def measure(table, runs, warmup):
    print(f"{table.scenario}: {warmup} warm-up + {runs} timed samples each: "
          + ", ".join(s.name for s in table.series if not s.dropped), flush=True)
    run_rounds(table, warmup, record=False)
    for series in table.series:
        if warmup and series.failures == warmup:
            series.dropped = True  # failed every warm-up sample: report as failed, do not time
    run_rounds(table, runs, record=True)


def table_rows(table):
    """(label, samples, series) per row; a wrapped runtime shows its inner and raw times."""
    rows = []
    for s in table.series:
        if s.timed_inside:
            rows.append((s.name, s.inner_ms, s))
            rows.append((f"{s.name} raw (wrapped)", s.samples_ms, s))
        else:
            rows.append((s.name, s.samples_ms, s))
    return rows


def wrapper_overhead(series):
    """Per-sample wrapper cost, raw minus inner, for a wrapped runtime."""
    return [raw - inner for raw, inner in zip(series.samples_ms, series.inner_ms, strict=True)]


def median_of(series):
    """The median compared across runtimes: of the inner time when wrapped; None if none."""
    if series is None or series.failed:
        return None
    samples = series.inner_ms if series.timed_inside else series.samples_ms
    return statistics.median(samples) if samples else None


def print_table(title, rows, unit, runc_median, extra_header="", extra=None, fmt=".1f"):
    """ROWS: (label, samples, failures, failed); EXTRA(label) -> text after the figures."""
    print(f"\n== {title}")
    print(f"{'subject':<20}{'n':>5}{'fail':>5}{'median':>9}{'p10':>8}{'p90':>8}"
          f"{'min':>8}{'mean':>8}{'/runc':>7}{extra_header}   ({unit})")
    for label, samples, failures, failed in rows:
        stats = summarize(samples)
        if failed or not stats:
            print(f"{label:<20}{len(samples):>5}{failures:>5}   FAILED")
            continue
        ratio = f"{stats['median'] / runc_median:.2f}" if runc_median else "-"
        print(f"{label:<20}{len(samples):>5}{failures:>5}{stats['median']:>9{fmt}}"
              f"{stats['p10']:>8{fmt}}{stats['p90']:>8{fmt}}{stats['min']:>8{fmt}}"
              f"{stats['mean']:>8{fmt}}{ratio:>7}{extra(label) if extra else ''}")


def report_table(table):
    """Print TABLE; return its crun wrapper overhead summary (None when not wrapped)."""
    by_name = {s.name: s for s in table.series}
    runc_median = median_of(by_name.get("runc"))
    many_steps = len(table.steps) > 1
    header = "".join(f"{step:>10}" for step in table.steps) if many_steps else ""

    def step_medians(label):
        s = by_name.get(label)
        if not many_steps or s is None:
            return ""
        return "".join(f"{statistics.median(s.steps_ms[step]):>10.1f}"
                       if s.steps_ms.get(step) else f"{'-':>10}" for step in table.steps)

    rows = [(label, samples, s.failures, s.failed) for label, samples, s in table_rows(table)]
    unit = "ms, steps: medians" if many_steps else "ms"
    print_table(f"{table.label}: {table.title}", rows, unit, runc_median, header, step_medians)
    overhead = None
    for s in table.series:
        if s.timed_inside and s.samples_ms:
            overhead = summarize(wrapper_overhead(s))
            print(f"{s.name} wrapper overhead (unshare+bash+mount; raw minus inner, per "
                  f"command group): median {overhead['median']:.1f} ms, p10 "
                  f"{overhead['p10']:.1f}, p90 {overhead['p90']:.1f}")
    for s in table.series:
        if s.first_error:
            print(f"{s.name}: {s.failures} failed sample(s); first stderr:\n"
                  f"{s.first_error.rstrip()}")
    return overhead


def report_rss(bench):
    n = bench.args.containers
    for key in ("VmRSS", "RssAnon"):
        runc = bench.rss.get("runc", {}).get(key)
        runc_median = statistics.median(runc) / 1024 if runc else None
        rows = [(name, [kb / 1024 for kb in figures[key]], figures["errors"], not figures[key])
                for name, figures in bench.rss.items()]
        print_table(f"rss: {key} of a created container's init, over {n}", rows, "MiB",
                    runc_median, fmt=".2f")
    for name, figures in bench.rss.items():
        left = figures["left"]
        if not figures["VmRSS"]:
            continue
        kb = statistics.median(p["VmRSS"] for p in left) if left else 0
        print(f"{name}: {len(left)} runtime process(es) left running after create"
              + (f", VmRSS median {kb / 1024:.2f} MiB, e.g. {left[0]['cmdline']}" if left else ""))
        if figures.get("first_error"):
            print(f"{name}: {figures['errors']} init(s) not measured; first error:\n"
                  f"{figures['first_error'].rstrip()}")


def pyrun_ratios(tables):
    ratios = []
    for table in tables:
        by_name = {s.name: s for s in table.series}
        pyrun, runc = median_of(by_name.get("pyrun")), median_of(by_name.get("runc"))
        if pyrun and runc:
            ratios.append(f"{table.label} {pyrun / runc:.2f}")
    return ratios


def write_json(path, args, bench, tables, overheads):
    figures = {
        "runs": args.runs, "warmup": args.warmup, "containers": args.containers,
        "scenarios": args.scenarios, "pure_cgroup2": is_pure_cgroup2(),
        "crun_wrapped": any(rt.timed_inside for rt in bench.runtimes),
        "tables": [{"scenario": t.scenario, "label": t.label, "title": t.title,
                    "steps": list(t.steps),
                    "crun_wrapper_overhead_ms": overhead,
                    "subjects": {s.name: s.to_json() for s in t.series}}
                   for t, overhead in zip(tables, overheads, strict=True)],
        "rss_kb": bench.rss,
        "setup_errors": bench.setup_errors,
    }
    Path(path).write_text(json.dumps(figures, indent=2) + "\n")


def run_scenarios(bench, tables):
    """Measure every chosen scenario, appending each table to TABLES as it is done."""
    args = bench.args

    def timed(table, teardown=None):
        try:
            measure(table, args.runs, args.warmup)
        finally:
            if teardown:
                teardown(table)
        tables.append(table)

    builders = {"run": bench.run_table, "lifecycle": bench.lifecycle_table,
                "run-d": bench.run_d_table}
    for scenario in args.scenarios:
        if scenario in builders:
            timed(builders[scenario]())
        elif scenario == "exec":
            timed(bench.exec_table(), bench.exec_teardown)
    population = [s for s in args.scenarios if s in POPULATION_SCENARIOS]
    if not population:
        return
    try:
        bench.create_population()
        if "rss" in population:
            bench.measure_rss()
        if "state" in population:
            timed(bench.state_table())
        if "list" in population:
            for table in bench.list_tables():
                timed(table)
    finally:
        bench.delete_population()


def main():
    args = parse_args()
    if args.network:
        enter_network_namespace()
    workdir = Path(tempfile.mkdtemp(prefix="pyrun-bench-"))
    bench, tables = None, []
    started = time.monotonic()
    try:
        bench = Bench(args, workdir)
        run_scenarios(bench, tables)
    except KeyboardInterrupt:
        print("\ninterrupted: deleting every container made", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the clean-up
        if bench is not None:
            bench.remove_leftovers()
        shutil.rmtree(workdir, ignore_errors=True)
    overheads = [report_table(table) for table in tables]
    if bench.rss:
        report_rss(bench)
    for name, what, error in bench.setup_errors:
        print(f"\n{name}: {what} failed:\n{error.rstrip()}")
    ratios = pyrun_ratios(tables)
    if ratios:
        print("\npyrun/runc median ratios: " + "; ".join(ratios))
    print(f"({time.monotonic() - started:.0f} s in all)")
    if args.json:
        write_json(args.json, args, bench, tables, overheads)
    pyrun_failed = any(s.is_pyrun and s.failures for t in tables for s in t.series)
    pyrun_failed |= any(name.startswith("pyrun") for name, _, _ in bench.setup_errors)
    pyrun_failed |= bool(bench.rss.get("pyrun", {}).get("errors"))
    measured = any(s.runtime and not s.failed for t in tables for s in t.series)
    return 1 if pyrun_failed or not (measured or bench.rss) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Running one fuzz case through a runtime and judging everything it did.

A case is a bundle (a config.json, or a prepared oddity such as a FIFO in its place) and a
command (`create` or `run`). The harness runs `pyrun --root STATE CMD -b BUNDLE ID` with a
timeout, stdin from /dev/null and output to files, and accepts exactly two outcomes:

    exit 0      the container was made: `create` is followed by `delete --force`, which
                must also succeed; `run` of `true` deletes by itself
    exit 1      stderr holds one line `pyrun: CMD ID: ...` (warning lines before it allowed),
                with no traceback, "internal error" or Python exception class name

and in both cases nothing is left behind: no state entry, no cgroup, no mount, no process,
no network link. Everything else is a finding, one `Finding` per kind.

Safety: this module only runs what it is given. mutations.sanitize() keeps every host path
a config may name inside the case's directory; the harness adds a ceiling on pyrun's
address space (a config.json that is /dev/zero) and a process-group kill on timeout, and
cleans up after a finding so that one bad case does not spoil the next. Run it as root,
inside /work/shared/tools/sandbox.
"""

import contextlib
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.bundles import PYRUN

MARKER = "PYRUN_FUZZ_CASE"  # in pyrun's environment (and the container's): finds survivors
CGROUP_ROOT = Path("/sys/fs/cgroup")
TIMEOUT = float(os.environ.get("PYRUN_FUZZ_TIMEOUT", "20"))
ADDRESS_SPACE = 2 << 30  # pyrun's RLIMIT_AS: a config.json of /dev/zero must not eat the host
LONG_LINE = 4096  # an error line longer than this is not "one clear line"

# What must never reach the user from a Python program that handles its errors.
PYTHON_LEAK = re.compile(
    r"Traceback \(most recent call last\)|internal error|"
    r"\b[A-Z][A-Za-z]*(?:Error|Exception|Exit|Interrupt|Iteration)(?::|$)")
# Characters that break "one line" for a reader, or rewrite a terminal (C0 less tab, DEL, C1,
# and the Unicode line and paragraph separators).
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u2028\u2029]")


@dataclass
class Case:
    """One input. `config` is a JSON document (dumped as is), a str or bytes (written as
    config.json's text), or None when `prepare` makes config.json itself."""

    cid: str
    config: object = None  # or a callable(CaseDir) returning one of these
    command: str = "create"
    label: str = ""  # what was mutated: "process.args[1]: nul byte"
    prepare: Callable[["CaseDir"], None] | None = None
    id_arg: str | None = None  # the id on the command line, when not `cid`
    extra_args: tuple[str, ...] = ()
    timeout: float = TIMEOUT  # seconds before the command counts as hung


@dataclass
class Finding:
    kind: str
    detail: str


@dataclass
class Result:
    case: Case
    rc: int | None  # None: timed out
    stderr: str
    stdout: str
    config_text: bytes | None  # what config.json held (None: prepared otherwise)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    compared: tuple | None = None  # (rc, first stderr line, finding kinds) of --compare

    @property
    def outcome(self) -> str:
        if self.findings:
            return "finding"
        return "accepted" if self.rc == 0 else "refused"

    @property
    def first_line(self) -> str:
        """The error line: pyrun's first line that is not a warning (runc's: its first
        `level=error` line)."""
        lines = [ln for ln in self.stderr.split("\n") if ln and not _is_warning(ln)]
        errors = [ln for ln in lines if "level=error" in ln]
        return (errors or lines or [""])[0]


# Ordered most serious first: the summary sorts by this.
SEVERITY = ("crash", "hang", "leftover-process", "leftover-cgroup", "leftover-mount",
            "leftover-link", "leftover-state", "traceback", "internal-error", "exit-status",
            "delete-failed", "bad-stderr", "control-chars", "long-line", "stderr-on-success")


@dataclass
class CaseDir:
    """A case's directory: bundle (with a private busybox rootfs), state root, bind
    sources; `hooks` is the session's directory of harmless hook programs."""

    path: Path
    hooks: Path
    namespaces: dict  # OCI namespace type -> a namespace file the session owns
    state: Path | None = None

    def __post_init__(self):
        if self.state is None:
            self.state = self.path / "state"

    @property
    def bundle(self) -> Path:
        return self.path / "bundle"

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    @property
    def config(self) -> Path:
        return self.bundle / "config.json"


# --- the session: holder of namespaces, hooks, the rootfs template ------------------------------

HOOK_SCRIPTS = {
    "ok": "#!/bin/sh\ncat >/dev/null\nexit 0\n",
    "fail": "#!/bin/sh\ncat >/dev/null\nexit 3\n",
    "slow": "#!/bin/sh\nsleep 3\n",
    "badinterp": "#!/nonexistent/interpreter\n",
    "killself": "#!/bin/sh\nkill -9 $$\n",
}


class Session:
    """What all cases share. Use as a context manager."""

    def __init__(self, workdir: Path, rootfs_template: Path, pyrun: str = PYRUN):
        self.workdir = Path(workdir)
        self.template = Path(rootfs_template)
        self.pyrun = pyrun
        self.hooks = self.workdir / "hooks"
        self.holder: subprocess.Popen | None = None
        self.namespaces: dict[str, str] = {}
        self.keep = set()  # pids that are ours and stay: the namespace holder

    def __enter__(self) -> "Session":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hooks.mkdir(exist_ok=True)
        for name, text in HOOK_SCRIPTS.items():
            p = self.hooks / name
            p.write_text(text)
            p.chmod(0o755)
        (self.hooks / "noexec").write_text("#!/bin/sh\nexit 0\n")
        (self.hooks / "noexec").chmod(0o644)
        (self.hooks / "dir").mkdir(exist_ok=True)
        # Every orphan of a case (a created container's init, a survivor) becomes our child:
        # that is how leftover processes are found, and how zombies are reaped.
        _set_child_subreaper()
        self._start_holder()
        return self

    def __exit__(self, *exc):
        if self.holder is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.holder.pid, signal.SIGKILL)
            self.holder.wait()
        _reap()

    def _start_holder(self):
        """A process in new namespaces of every kind a config may join by path: cases may
        join these and only these (never a namespace of a process we did not start)."""
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--uts", "--ipc", "--mount", "--pid", "--cgroup", "--fork",
             "sleep", "infinity"], stdin=subprocess.DEVNULL, start_new_session=True)
        inner = None
        for _ in range(200):
            try:
                kids = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children")
                inner = int(kids.read_text().split()[0])
                break
            except (OSError, IndexError, ValueError):
                time.sleep(0.01)
        if inner is None:
            raise RuntimeError("the namespace holder did not start")
        self.keep = {self.holder.pid, inner}
        names = {"network": "net", "uts": "uts", "ipc": "ipc", "mount": "mnt", "pid": "pid",
                 "cgroup": "cgroup"}
        self.namespaces = {k: f"/proc/{inner}/ns/{v}" for k, v in names.items()}

    def case_dir(self, cid: str) -> CaseDir:
        d = CaseDir(self.workdir / cid, self.hooks, self.namespaces)
        d.path.mkdir()
        d.bundle.mkdir()
        shutil.copytree(self.template, d.rootfs, symlinks=True)
        (d.path / "src").mkdir()
        (d.path / "src" / "file").write_text("bind source\n")
        (d.path / "srcfile").write_text("bind source file\n")
        (d.path / "not-a-ns").write_text("")
        return d

    # --- running a case ---------------------------------------------------------------------------

    def run(self, case: Case, runtime: str | None = None, keep_dir: bool = False,
            compare: str | None = None) -> Result:
        """Run `case` and judge it. `runtime` (default pyrun) may be runc: the same
        judgement applies, less pyrun's own wording. With `compare` (runc's path), the same
        bundle then goes through that runtime too: its outcome lands in `Result.compared`."""
        runtime = runtime or self.pyrun
        d = self.case_dir(case.cid)
        try:
            text = self._write_config(case, d)
            res = self._run_in(case, d, runtime, text)
            if compare:
                d.state = d.path / "state-compared"
                other = self._run_in(case, d, compare, text)
                res.compared = (other.rc, other.first_line, [f.kind for f in other.findings])
            return res
        finally:
            if not keep_dir:
                remove_tree(d.path)

    def _run_in(self, case: Case, d: CaseDir, runtime: str, text) -> Result:
        before = Snapshot.take(case.cid)
        start = time.monotonic()
        cid = case.cid if case.id_arg is None else case.id_arg
        argv = [runtime, "--root", str(d.state), case.command, *case.extra_args,
                "--bundle", str(d.bundle), cid]
        rc, out, err = self._invoke(argv, d, case.cid, timeout=case.timeout)
        res = Result(case, rc, err, out, text)
        judge_exit(res, cid, pyrun_wording=runtime == self.pyrun)
        if rc == 0 and case.command == "create":
            drc, _, derr = self._invoke([runtime, "--root", str(d.state), "delete",
                                         "--force", cid], d, case.cid, suffix="delete")
            if drc != 0:
                res.findings.append(Finding("delete-failed",
                                            f"delete --force: exit {drc}: {_first(derr)}"))
            elif _non_warnings(derr):
                res.findings.append(Finding("stderr-on-success",
                                            f"delete --force: {_first(derr)}"))
        res.findings += self._leftovers(before, d, case.cid, runtime)
        res.seconds = time.monotonic() - start
        return res

    def _write_config(self, case: Case, d: CaseDir) -> bytes | None:
        if case.prepare is not None:
            case.prepare(d)
        config = case.config(d) if callable(case.config) else case.config
        if config is None:
            return None
        if isinstance(config, bytes):
            text = config
        elif isinstance(config, str):
            text = config.encode("utf-8", "surrogatepass")
        else:
            text = json.dumps(config).encode()
        d.config.write_bytes(text)
        return text

    def _invoke(self, argv, d: CaseDir, marker: str, suffix="main", timeout=TIMEOUT):
        # Go reserves address space freely: the ceiling is for pyrun alone.
        limit = _limit_address_space if argv[0] == self.pyrun else None
        out, err = d.path / f"{suffix}.out", d.path / f"{suffix}.err"
        env = {**os.environ, MARKER: marker}
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                    env=env, start_new_session=True,
                                    preexec_fn=limit)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = None
        return rc, _text(out), _text(err)

    def _leftovers(self, before: "Snapshot", d: CaseDir, cid: str, runtime: str):
        """What the case left, as findings; then remove all of it."""
        findings = []
        after = Snapshot.take(cid)
        entries = sorted(os.listdir(d.state)) if d.state.is_dir() else []
        # runc keeps nothing but its per-container directories in --root.
        entries = [e for e in entries if e not in ("network",)]
        if entries:
            findings.append(Finding("leftover-state", f"state entries: {entries}"))
        procs = _live_children(self.keep, cid, d)
        if procs:
            findings.append(Finding("leftover-process", "; ".join(procs)))
        # (/pyrun, the parent of every container's cgroup, may stay, as runc's parents.)
        cgroups = sorted(after.cgroups - before.cgroups)
        if cgroups:
            findings.append(Finding("leftover-cgroup", f"cgroups: {cgroups}"))
        mounts = sorted(after.mounts.keys() - before.mounts.keys())
        if mounts:
            findings.append(Finding("leftover-mount",
                                    f"mounts: {sorted(after.mounts[m] for m in mounts)}"))
        links = sorted(after.links - before.links)
        if links:
            findings.append(Finding("leftover-link", f"network links: {links}"))
        if findings:
            # Only mounts in our case's directory are ours to remove: outside the sandbox,
            # a new mount elsewhere may be someone else's (it is reported all the same).
            ours = [after.mounts[m] for m in mounts
                    if after.mounts[m].startswith(str(self.workdir) + "/")]
            self._clean(d, runtime, cid, ours, cgroups)
        return findings

    def _clean(self, d: CaseDir, runtime: str, cid: str, mounts, cgroups):
        """After a finding: remove what the case left, so the next case starts clean."""
        for name in os.listdir(d.state) if d.state.is_dir() else []:
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run([runtime, "--root", str(d.state), "delete", "--force", name],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
        for cg in sorted(cgroups, key=len, reverse=True):
            _thaw(Path(cg))
        _kill_children(self.keep)
        for cg in sorted(cgroups, key=len, reverse=True):
            _remove_cgroup(Path(cg))
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        if d.state.is_dir():
            remove_tree(d.state)


# --- judging the exit ---------------------------------------------------------------------------

def _is_warning(line: str) -> bool:
    return line.startswith("pyrun: warning: ")


def _non_warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.split("\n") if ln and not _is_warning(ln)]


def _first(stderr: str) -> str:
    lines = _non_warnings(stderr)
    return (lines[0] if lines else "")[:300]


def judge_exit(res: Result, cid: str, pyrun_wording: bool = True) -> None:
    """Exit status and stderr: the rules of DESIGN.md section 5."""
    add = res.findings.append
    text = res.stderr + res.stdout
    if "Traceback (most recent call last)" in text:
        add(Finding("traceback", _traceback_tail(text)))
    if res.rc is None:
        add(Finding("hang", f"no exit after {res.case.timeout:g} s"))
        return
    if res.rc < 0:
        add(Finding("crash", f"killed by signal {-res.rc}: {_first(res.stderr)}"))
        return
    lines = _non_warnings(res.stderr)
    if res.case.command == "run" and res.rc >= 128 and not lines:
        return  # `run` exits with the container's status: 128+N when a signal killed it
    if res.rc == 0:
        if lines:
            add(Finding("stderr-on-success", lines[0][:300]))
        return
    if res.rc != 1:
        add(Finding("exit-status", f"exit {res.rc}: {_first(res.stderr)}"))
    if not pyrun_wording:
        return
    if len(lines) != 1:
        add(Finding("bad-stderr", f"{len(lines)} error lines: {res.stderr[:300]!r}"))
    line = lines[0] if lines else ""
    # An odd id may fail before pyrun knows it as one: then only the command is named.
    prefix = f"pyrun: {res.case.command} {cid}: " if res.case.id_arg is None \
        else f"pyrun: {res.case.command}"
    if lines and not (line.startswith(prefix) and line[len(prefix):].strip()):
        add(Finding("bad-stderr", f"not {prefix!r}...: {line[:300]!r}"))
    if PYTHON_LEAK.search(line.replace(cid, "ID")):
        add(Finding("internal-error", line[:300]))
    if CONTROL.search(line):
        add(Finding("control-chars", repr(line[:300])))
    if len(line) > LONG_LINE:
        add(Finding("long-line", f"{len(line)} characters: {line[:120]!r}..."))


def _traceback_tail(text: str) -> str:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return lines[-1][:300] if lines else ""


# --- what is left behind ------------------------------------------------------------------------

@dataclass
class Snapshot:
    mounts: dict  # mount id -> mount point
    cgroups: set  # cgroup directories that are pyrun's, or named after the case
    links: set  # network interfaces of our network namespace

    @classmethod
    def take(cls, cid: str) -> "Snapshot":
        return cls(_mounts(), _cgroups(cid), {name for _, name in socket.if_nameindex()})


def _mounts() -> dict:
    with open("/proc/self/mountinfo") as f:
        return {ln.split()[0]: ln.split()[4] for ln in f if ln.strip()}


def _cgroups(cid: str) -> set:
    """Directories, in any hierarchy, with the case id in their path (a relative
    cgroupsPath lands below our own cgroup, so search every level). Never anything else:
    outside the sandbox the hierarchy holds other people's containers, which the clean-up
    must not touch."""
    found = set()
    if not CGROUP_ROOT.is_dir():
        return found
    for hier in CGROUP_ROOT.iterdir():
        for top, dirs, _ in os.walk(hier):
            rel = top[len(str(hier)):]
            if cid in rel:
                found.add(top)
            if rel.count("/") >= 8:  # deep enough for any path the fuzzer makes
                dirs[:] = []
    return found


def _children() -> dict[int, str]:
    """Our live child processes (pid -> command line); zombies are reaped first."""
    _reap()
    me = str(os.getpid())
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[1] != me or fields[0] == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                kids[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
    return kids


def _live_children(keep: set, cid: str, d: CaseDir) -> list[str]:
    """Survivors: every orphan comes to us (we are a subreaper). A process may take a
    moment to die after delete: wait a little before calling it a leftover."""
    for _ in range(20):
        kids = {p: c for p, c in _children().items() if p not in keep}
        if not kids:
            return []
        time.sleep(0.05)
    return [f"{p}: {c[:200]}" for p, c in sorted(kids.items())]


def _kill_children(keep: set):
    for _ in range(50):
        kids = [p for p in _children() if p not in keep]
        if not kids:
            return
        for p in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        time.sleep(0.05)


def _reap():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _thaw(cg: Path):
    for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
        with contextlib.suppress(OSError):
            (cg / name).write_text(value)


def _remove_cgroup(cg: Path):
    for top, _, _ in sorted(os.walk(cg), key=lambda t: len(t[0]), reverse=True):
        try:
            for pid in Path(top, "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
        for _ in range(20):
            try:
                os.rmdir(top)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def remove_tree(path: Path):
    """rm -rf that never crosses into another filesystem: a mount left inside a case's
    directory must never take its (host) source with it."""
    if path.exists() or path.is_symlink():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True)


# --- small helpers ------------------------------------------------------------------------------

def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "backslashreplace")


def _limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _set_child_subreaper():
    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

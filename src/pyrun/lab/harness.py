"""What every level's checker shares: run the student's program in the box, wait for the
command it runs, look at it from outside, report, and clean everything up.

    lab = Lab(level, program)
    run = lab.start("run", "--rootfs", lab.rootfs, "--", *lab.probe('echo "lab: x $(y)"'))
    pid = lab.container(run, hint)     # waits for "lab: ready", finds the `sleep 4242`
    lab.ok("...") / lab.fail("...", "what to do")   # fail() raises Failure
    lab.finish(run, pid)               # kill the command: the program must exit 137
    lab.close()                        # kill what is left, undo, remove the temp dir

The probe is the contract between a checker and a student's program: the program runs
the command it is given (`/bin/sh -c SCRIPT`) in its container; SCRIPT prints facts seen
from inside as `lab: KEY VALUE` lines on stdout, then `lab: ready`, then becomes
`sleep 4242`, the process the checker then inspects from outside (/proc/PID/...).
"""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from pyrun.lab import observe
from pyrun.lab.box import Box
from pyrun.lab.rootfs import make_rootfs
from pyrun.linux import syscalls

MARKER = ["sleep", "4242"]
# The VM runs code ~10-25x slower (TCG): it sets this.
SCALE = float(os.environ.get("PYRUN_LAB_TIMEOUT_SCALE", "1"))


# What a failing program's stderr often says, and what it means.
KNOWN_ERRORS = (
    ("No module named", "Python imports some modules only when first used; after "
     "pivot_root (or chroot) the host's files, Python's own among them, are out of reach: "
     "import (and use once) everything you need before entering the rootfs"),
    (("pivot_root", "Invalid argument"),
     "pivot_root(2) fails with EINVAL when the new root is not a mount point (bind it onto "
     "itself first: mounts.bind_rootfs) or when / is a shared mount (make it private "
     "first: mounts.make_root_private)"),
)


class Failure(Exception):
    def __init__(self, what: str, hint: str = "", detail: str = ""):
        super().__init__(what)
        self.what, self.hint, self.detail = what, hint, detail


class Run:
    """One invocation of the student's program, stdout and stderr in files (a pipe would
    stay open as long as any container process holds it)."""

    def __init__(self, lab: "Lab", argv: list[str], name: str, stdin=subprocess.DEVNULL):
        self.argv = argv
        self.out_path = os.path.join(lab.tmp, f"{name}.stdout")
        self.err_path = os.path.join(lab.tmp, f"{name}.stderr")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = lab.box.spawn(argv, stdout=out, stderr=err, stdin=stdin)
        self.pid = self.proc.pid

    def stdout(self) -> str:
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self) -> str:
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def facts(self) -> dict[str, str]:
        """The probe's `lab: KEY VALUE` lines (the last one of each key wins)."""
        out = {}
        for line in self.stdout().splitlines():
            if line.startswith("lab: "):
                key, _, value = line[5:].partition(" ")
                out[key] = value
        return out

    def exited(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            return None

    def wait_for(self, key: str, timeout: float) -> bool:
        """Until the probe printed `lab: KEY`; False if the program exited or time ran out."""
        deadline = time.monotonic() + timeout * SCALE
        while time.monotonic() < deadline:
            done = self.exited() is not None
            if key in self.facts():
                return True
            if done:
                return False
            time.sleep(0.02)
        return False

    def stderr_tail(self, lines: int = 8) -> str:
        tail = self.stderr().rstrip().splitlines()[-lines:]
        return "\n".join(tail)


class Lab:
    def __init__(self, level, program: str, out=sys.stdout):
        self.level, self.program, self.out = level, program, out
        self.tmp = tempfile.mkdtemp(prefix=f"pyrun-lab-{level.number}-")
        os.chmod(self.tmp, 0o755)  # a mapped root (level 07) must reach the rootfs
        self.box = None
        self.runs: list[Run] = []
        self.cleanups = []
        self._rootfs = None
        syscalls.set_child_subreaper()  # orphans come to us: we find and reap them
        try:
            self.box = Box(cwd=self.tmp)
        except BaseException:
            _remove_tree(self.tmp)
            raise

    # --- reporting
    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def ok(self, text: str) -> None:
        self.say(f"  ok    {text}")

    def note(self, text: str) -> None:
        self.say(textwrap.fill(text, 96, initial_indent="  note  ", subsequent_indent=" " * 8,
                               break_on_hyphens=False, break_long_words=False))

    def fail(self, what: str, hint: str = "", run: Run | None = None):
        detail = ""
        if run is not None and run.stderr().strip():
            detail = "your program's stderr ends with:\n" + textwrap.indent(
                run.stderr_tail(), "  | ")
        raise Failure(what, hint, detail)

    # --- running the student's program
    @property
    def rootfs(self) -> str:
        if self._rootfs is None:
            self._rootfs = make_rootfs(os.path.join(self.tmp, "rootfs"))
        return self._rootfs

    def start(self, *args: str, name: str = "run", **kw) -> Run:
        run = Run(self, [sys.executable, self.program, *args], name, **kw)
        self.runs.append(run)
        return run

    def probe(self, *lines: str) -> list[str]:
        return ["/bin/sh", "-c", "; ".join([*lines, "echo lab: ready", "exec sleep 4242"])]

    def find(self, argv: list[str], timeout: float = 5) -> int | None:
        """A process below this checker whose command line is `argv`."""
        deadline = time.monotonic() + timeout * SCALE
        while True:
            for pid in observe.descendants(os.getpid()):
                try:
                    if observe.cmdline(pid) == argv and observe.alive(pid):
                        return pid
                except observe.ProcessGone:
                    pass
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def container(self, run: Run, hint: str, timeout: float = 10,
                  known: tuple[tuple[str, str], ...] = ()) -> int:
        """The host pid of the command, once it printed `lab: ready` and became sleep.
        `known`: (text in the program's stderr, or a tuple of texts all in it, hint) for
        failures this level teaches about; they win over `hint`, as do KNOWN_ERRORS."""
        if not run.wait_for("ready", timeout):
            stderr = run.stderr()
            hint = next((h for text, h in (*known, *KNOWN_ERRORS)
                         if all(t in stderr for t in ((text,) if isinstance(text, str)
                                                      else text))), hint)
            code = run.exited()
            if code is not None:
                self.fail(f"your program exited with status {code} before the command "
                          f"printed 'lab: ready'", hint, run)
            self.fail(f"the command printed no 'lab: ready' within {timeout * SCALE:g} s",
                      hint, run)
        pid = self.find(MARKER)
        if pid is None:
            self.fail("the command printed 'lab: ready' but no `sleep 4242` process runs "
                      "below your program", "exec the command: it ends with exec sleep 4242",
                      run)
        return pid

    def finish(self, run: Run, pid: int, expect: int = 137) -> None:
        """Kill the command; the program must notice, and exit as a shell would."""
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        code = run.wait(10)
        if code is None:
            self.fail("your program still runs 10 s after its command was killed",
                      "wait for the child (os.waitpid) and exit when it is gone", run)
        if code != expect:
            self.fail(f"your program exited with status {code} after its command was killed "
                      f"by SIGKILL; a shell reports {expect} (128 + 9)",
                      "os.waitstatus_to_exitcode(status) is -9 for a process killed by "
                      "signal 9: exit with 128 + 9 then, as shells and runc do", run)
        self.ok(f"killed, the command's status reached your program: it exited {code}")

    def reap(self) -> None:
        """Reap orphans that came to us (we are a subreaper), but not our own programs."""
        mine = {r.pid for r in self.runs} | {self.box.pid}
        for pid, parent in observe.parents().items():
            if parent == os.getpid() and pid not in mine:
                try:
                    if observe.stat_fields(pid)[0] == "Z":
                        os.waitpid(pid, os.WNOHANG)
                except (observe.ProcessGone, ChildProcessError):
                    pass

    # --- the end
    def close(self) -> None:
        """Kill every process started below us, undo what the levels registered, remove the
        temp dir. Safe to call whatever state the student's program left."""
        for _ in range(200):
            pids = observe.descendants(os.getpid())
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for run in self.runs:
                run.proc.poll()
            _reap_all()
            time.sleep(0.01)
        if self.box is not None:
            self.box.close()
        _reap_all()
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as e:
                self.say(f"  warn  cleanup: {e}")
        _remove_tree(self.tmp)


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _remove_tree(top: str) -> None:
    """rm -rf, but first detach anything still mounted below `top` in our own namespace
    (only a program that escaped the box could have left one)."""
    import shutil

    real = os.path.realpath(top)
    for m in sorted(observe.mountinfo(os.getpid()), key=lambda m: -len(m.point)):
        if m.point == real or m.point.startswith(real + "/"):
            try:
                syscalls.umount2(m.point, syscalls.MNT_DETACH)
            except OSError:
                pass
    shutil.rmtree(top, ignore_errors=True)

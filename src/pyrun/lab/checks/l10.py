"""Level 10: pyrun under an engine. The student's shim drives pyrun (create with a console
socket, start, delete); the checker looks at the process tree, the terminal and the exit
status from outside."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

from pyrun.config import default_spec
from pyrun.lab import observe
from pyrun.lab.harness import SCALE, Run

PYRUN = [sys.executable, "-m", "pyrun"]
STATUS = 42
SCRIPT = (f'trap "exit {STATUS}" USR1; echo "lab: tty $(tty)"; echo lab: ready; '
          f'while true; do sleep 1; done')


def check(lab):
    root = os.path.join(lab.tmp, "state")
    cid = f"lab10-{os.getpid()}"
    lab.cleanups.append(lambda: subprocess.run([*PYRUN, "--root", root, "delete", "--force",
                                                cid], capture_output=True))
    bundle = make_bundle(lab)
    run = lab.start("--root", root, "shim", "--runtime", shlex.join(PYRUN), "--bundle",
                    bundle, cid)
    if not run.wait_for("ready", 30):
        code = run.exited()
        what = (f"your shim exited with status {code}" if code is not None
                else f"no 'lab: ready' on your shim's stdout within {30 * SCALE:g} s")
        lab.fail(f"{what}: the command's terminal output never reached it",
                 "make a listening AF_UNIX socket, pass its path to `pyrun create "
                 "--console-socket PATH`, accept the connection and receive the pty master "
                 "(tty.recv_console_master), `pyrun start`, then copy what the master reads "
                 "to stdout", run)
    lab.ok("the command's output reached your shim's stdout")
    tty_name = run.facts().get("tty", "")
    if not tty_name.startswith("/dev/pts/"):
        lab.fail(f"the command has no terminal (tty says {tty_name!r})",
                 "the bundle asks for one (process.terminal): pyrun makes it", run)
    lab.ok(f"through a terminal of its own ({tty_name}), whose master came over the console "
           f"socket")
    pid = container_pid(lab, root, cid, run)
    runtimes = [p for p in observe.descendants(run.pid) if p != pid and _is_pyrun(p)]
    if runtimes:
        lab.fail(f"pyrun still runs below your shim ({' '.join(observe.cmdline(runtimes[0]))})",
                 "use `create` then `start`, which return at once: the runtime exits and the "
                 "shim stays. (`pyrun run` stays, as runc run does: an engine could then not "
                 "upgrade or restart its runtime without touching the containers.)", run)
    parent = observe.stat_fields(pid)[1]
    if parent != run.pid:
        whose = ("the checker, the nearest subreaper above your shim" if parent == os.getpid()
                 else f"PID {parent} ({' '.join(observe.cmdline(parent))[:60]})")
        lab.fail(f"the container's init (PID {pid}) is the child of {whose}, not of your shim",
                 "pyrun create forks the init from an intermediate process that exits: the "
                 "orphan goes to the nearest subreaper. Make the shim one before create: "
                 "syscalls.set_child_subreaper() (prctl PR_SET_CHILD_SUBREAPER)", run)
    lab.ok(f"pyrun has exited; the container's init (PID {pid}) is your shim's child")
    os.kill(pid, signal.SIGUSR1)  # the command's trap: exit 42
    code = run.wait(15)
    if code is None:
        lab.fail(f"your shim still runs 15 s after the container exited {STATUS}",
                 "copy until the master reads EIO (no process holds the terminal any more), "
                 "then os.waitpid(pid, 0)", run)
    if code != STATUS:
        lab.fail(f"the container exited {STATUS}, your shim {code}",
                 "os.waitpid(pid, 0) on the init (pid from --pid-file): it is your child, "
                 "and its status is the one to exit with", run)
    lab.ok(f"the container exited {STATUS}, and so did your shim")
    gone = subprocess.run([*PYRUN, "--root", root, "state", cid], capture_output=True)
    if gone.returncode == 0:
        lab.fail("after your shim exited, pyrun still knows the container",
                 "run `pyrun delete ID` once the container has exited", run)
    lab.ok("and it had pyrun delete the container")


def make_bundle(lab) -> str:
    bundle = os.path.join(lab.tmp, "bundle")
    os.makedirs(bundle)
    config = default_spec()
    config["root"] = {"path": lab.rootfs, "readonly": False}
    config["process"]["terminal"] = True
    config["process"]["args"] = ["/bin/sh", "-c", SCRIPT]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return bundle


def container_pid(lab, root: str, cid: str, run) -> int:
    deadline = time.monotonic() + 5 * SCALE
    while True:
        state = Run(lab, [*PYRUN, "--root", root, "state", cid], "state")
        lab.runs.append(state)
        if state.wait(10) == 0:
            data = json.loads(state.stdout())
            if data.get("status") == "running":
                return data["pid"]
        if time.monotonic() > deadline:
            lab.fail("pyrun does not report the container as running",
                     "create, then start: the output came, so did you start it twice?", run)
        time.sleep(0.1)


def _is_pyrun(pid: int) -> bool:
    try:
        argv = observe.cmdline(pid)
    except observe.ProcessGone:
        return False
    return any(a.endswith("pyrun") for a in argv[:3]) or argv[1:3] == ["-m", "pyrun"]

"""Level 09: the OCI bundle and lifecycle (create, the exec fifo, start, state, kill,
delete) and hooks, with pyrun as the reference: the same bundle goes through pyrun first,
and the student's runtime must report the same status at each step."""

import json
import os
import subprocess
import sys
import time

from pyrun.config import default_spec
from pyrun.lab import observe
from pyrun.lab.harness import MARKER, SCALE, Run

PYRUN = [sys.executable, "-m", "pyrun"]
STEPS = ("create", "start", "kill")


def check(lab):
    reference = lifecycle(lab, PYRUN, "pyrun")
    lab.ok(f"pyrun, the reference, says: {_story(reference)}")
    mine = lifecycle(lab, [sys.executable, lab.program], "yours", reference)
    lab.ok(f"your runtime says the same: {_story(mine)}")


def _story(statuses: dict) -> str:
    return ", ".join(f"after {step}: {statuses[step]}" for step in STEPS)


def make_bundle(lab, name: str) -> tuple[str, str]:
    """A bundle whose command is the probe and whose hooks write their stdin to files."""
    bundle = os.path.join(lab.tmp, f"bundle-{name}")
    hooks_dir = os.path.join(bundle, "hooks-output")
    os.makedirs(hooks_dir)
    config = default_spec()
    config["root"] = {"path": lab.rootfs, "readonly": False}
    config["hostname"] = "lab09"
    config["process"]["args"] = lab.probe()
    config["process"]["terminal"] = False  # runc's template asks for one: that is level 10
    config["hooks"] = {kind: [{"path": "/bin/sh", "args": [
        "sh", "-c", f"cat > {hooks_dir}/{kind}.json"]}] for kind in ("poststart", "poststop")}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return bundle, hooks_dir


def lifecycle(lab, runtime: list[str], name: str, reference: dict | None = None) -> dict:
    """create, state, start, state, kill, state, delete: the statuses seen, checked from
    outside at each step."""
    bundle, hooks_dir = make_bundle(lab, name)
    root = os.path.join(lab.tmp, f"state-{name}")
    cid = f"lab09-{os.getpid()}"
    yours = reference is not None
    statuses = {}
    if not yours:  # pyrun's cgroups outlive a check that stops half-way: delete --force
        lab.cleanups.append(lambda: subprocess.run([*runtime, "--root", root, "delete",
                                                    "--force", cid], capture_output=True))

    def call(*args, what: str, timeout: float = 15) -> Run:
        run = Run(lab, [*runtime, "--root", root, *args], f"{name}-{what}")
        lab.runs.append(run)
        code = run.wait(timeout)
        if code is None and what == "create":
            lab.fail("create did not return",
                     "create must exit once the container is set up: the container's init "
                     "stays, blocked on exec.fifo, and `start` releases it; the runtime does "
                     "not wait for it (the intermediate exits after forking the init)", run)
        if code is None:
            lab.fail(f"`{' '.join(args)}` did not return within {timeout * SCALE:g} s", "", run)
        if code != 0 and not yours:
            lab.fail(f"pyrun, the reference, failed at `{what}` (exit status {code}): this "
                     f"checker needs pyrun itself to work here", "", run)
        if code != 0:
            lab.fail(f"`{' '.join(args)}` failed (exit status {code})",
                     HINTS.get(what, ""), run)
        return run

    def state(after: str) -> dict:
        run = call("state", cid, what=f"state-after-{after}")
        try:
            data = json.loads(run.stdout())
        except ValueError:
            lab.fail(f"`state {cid}` printed no JSON", "print json.dumps(state)", run)
        statuses[after] = data.get("status")
        if yours and statuses[after] != reference[after]:
            lab.fail(f"after {after}, pyrun's state says {reference[after]!r}, yours says "
                     f"{statuses[after]!r}", STATUS_HINT, run)
        return data

    created = call("create", "--bundle", bundle, cid, what="create", timeout=20)
    data = state("create")
    pid = data.get("pid")
    if yours and (not isinstance(pid, int) or not observe.alive(pid)):
        lab.fail(f"after create, the state's pid ({pid}) is not a live process",
                 "the pid is the container's init as the host sees it: fork()'s answer in "
                 "the intermediate, which reports it to create", created)
    if yours:
        time.sleep(0.3 * SCALE)  # give a command started too early the time to show
        if observe.cmdline(pid)[:1] in (["/bin/sh"], MARKER[:1]) or "ready" in created.facts():
            lab.fail("the command already runs before start",
                     "the init must stop before execve: open exec.fifo for writing, which "
                     "blocks until `start` opens it for reading (wait_for_start)", created)
        if observe.ns_inode(pid, "pid") == observe.ns_inode(os.getpid(), "pid"):
            lab.fail("after create, the init is not in a PID namespace of its own",
                     "create makes the namespaces, as run does", created)
        lab.ok("create returned; the init waits, in its namespaces, for start")
    call("start", cid, what="start")
    if not created.wait_for("ready", 10):
        lab.fail("after start, the command printed no 'lab: ready'",
                 "start opens exec.fifo for reading; the init then execs the command",
                 created)
    if lab.find(MARKER) != pid:
        lab.fail("the process running the command is not the pid in the state",
                 "the init execs the command itself, keeping its pid", created)
    state("start")
    hook = _hook_output(hooks_dir, "poststart")
    if yours:
        lab.ok("start released the init: the command runs, as the state's pid")
        _check_hook(lab, hook, "poststart", cid, pid, created)
    call("kill", cid, "KILL", what="kill")
    deadline = time.monotonic() + 5 * SCALE
    while observe.alive(pid) and time.monotonic() < deadline:
        lab.reap()  # the orphaned init is ours now (a subreaper's): reap it, as an engine would
        time.sleep(0.02)
    state("kill")
    call("delete", cid, what="delete")
    gone = Run(lab, [*runtime, "--root", root, "state", cid], f"{name}-state-after-delete")
    lab.runs.append(gone)
    if yours:
        if gone.wait(10) == 0:
            lab.fail("after delete, `state` still knows the container",
                     "delete removes the container's state directory", gone)
        lab.ok("kill stopped it; delete forgot it (state fails afterwards)")
        _check_hook(lab, _hook_output(hooks_dir, "poststop"), "poststop", cid, None, gone)
    return statuses


STATUS_HINT = ("the status is found out at each `state`, not stored: 'created' while the init "
               "lives and exec.fifo exists, 'running' while it lives and start has removed "
               "the fifo, 'stopped' once it is gone (or a zombie: pyrun.linux.process."
               "start_time gives None then, and another value if the pid was reused)")
HINTS = {
    "create": "read config.json from the bundle (load_bundle), make ROOT/ID with exec.fifo, "
              "then spawn as run does",
    "start": "start opens exec.fifo for reading, reads the init's byte, removes the fifo",
    "kill": "kill ID SIGNAL: os.kill(state['pid'], signal number); names like KILL or "
            "SIGKILL and numbers",
    "delete": "delete removes the state directory of a stopped container",
}


def _hook_output(hooks_dir: str, kind: str):
    path = os.path.join(hooks_dir, f"{kind}.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError:
        return {}


def _check_hook(lab, data, kind: str, cid: str, pid, run) -> None:
    if data is None:
        lab.fail(f"the {kind} hook did not run",
                 f"run each entry of hooks.{kind} (path, args, env, timeout) with the "
                 f"container's state as JSON on its stdin", run)
    if data.get("id") != cid or (pid is not None and data.get("pid") != pid):
        lab.fail(f"the {kind} hook got {data!r} on its stdin",
                 "give it the state as `state` prints it: ociVersion, id, status, pid, "
                 "bundle", run)
    lab.ok(f"the {kind} hook ran, with the container's state on its stdin")

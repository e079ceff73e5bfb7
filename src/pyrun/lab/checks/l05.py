"""Level 05: cgroup v2, memory, cpu and pids. Needs a cgroup v2 host (cli re-runs this level
in the project's VM when there is none)."""

import os

from pyrun.lab import observe
from pyrun.linux.cgroups import base

MOUNT = "/sys/fs/cgroup"
KNOWN = (
    (("cpu.max", "Invalid argument"),
     "cpu.max takes 'QUOTA PERIOD' in microseconds: --cpus 0.5 is '50000 100000'"),
    (("memory.max", "Invalid argument"), "memory.max takes a number of bytes (or 'max')"),
    ("No such file or directory: '/sys/fs/cgroup/",
     "a cgroup has a controller's files (memory.max, cpu.max, pids.max) only when its "
     "parent enables the controller in cgroup.subtree_control: group.create() does that on "
     "the way down"),
)
MEMORY = 64 << 20
PIDS = 16


def check(lab):
    parent = "/pyrun-lab"
    path = f"{parent}/check-{os.getpid()}"
    lab.cleanups.append(_remover(path, parent, existed=os.path.isdir(MOUNT + parent)))
    run = lab.start("run", "--rootfs", lab.rootfs, "--cgroup", path, "--memory", str(MEMORY),
                    "--cpus", "0.5", "--pids", str(PIDS), "--",
                    *lab.probe("(for i in $(seq 24); do sleep 600 & done) 2>/dev/null",
                               'echo "lab: forked"'))
    pid = lab.container(run, "make the cgroup and write its limits before forking; the "
                        "child joins it first thing", timeout=30, known=KNOWN)
    lab.ok("the command runs")
    where = observe.cgroup_v2(pid)
    if where != path:
        lab.fail(f"the command is in the cgroup {where}, not {path}",
                 "make the cgroup --cgroup names (cgroups.open_group(args.cgroup).create()) "
                 "and move the intermediate into it before it forks: group.add(0) writes "
                 "its pid to cgroup.procs; children are born in their parent's cgroup", run)
    lab.ok(f"it is in the cgroup {path}")
    directory = MOUNT + path
    expected = {"memory.max": str(MEMORY), "cpu.max": "50000 100000", "pids.max": str(PIDS)}
    hints = {"memory.max": f"write the limit in bytes ({MEMORY}) to memory.max",
             "cpu.max": "--cpus 0.5 is 50 ms of CPU time every 100 ms: write "
                        "'50000 100000' (quota and period, in microseconds) to cpu.max",
             "pids.max": f"write {PIDS} to pids.max"}
    for name, want in expected.items():
        try:
            got = base.read(os.path.join(directory, name))
        except Exception:
            lab.fail(f"the cgroup has no {name}",
                     "the controller must be enabled in the parent's cgroup.subtree_control "
                     "before the child cgroup is made: group.create() does that", run)
        if got != want:
            lab.fail(f"{name} is {got!r}, expected {want!r}", hints[name], run)
    lab.ok("memory.max, cpu.max and pids.max hold the limits")
    refused = base.read_keyed(os.path.join(directory, "pids.events")).get("max", 0)
    if not refused:
        lab.fail(f"the command started 24 processes under pids.max {PIDS}, and the kernel "
                 f"refused none", "are the processes really in the cgroup?", run)
    lab.ok(f"the kernel refused {refused} fork(s) beyond pids.max (pids.events)")
    lab.finish(run, pid)
    if os.path.isdir(directory):
        lab.fail(f"the cgroup {path} is still there after your program exited",
                 "remove it when the container is gone: kill what is left "
                 "(group.kill_all()) and rmdir it (group.destroy(made))", run)
    lab.ok("the cgroup is gone after the container")


def _remover(path: str, parent: str, existed: bool):
    def remove():
        directory = MOUNT + path
        if os.path.isdir(directory):
            if os.path.exists(os.path.join(directory, "cgroup.kill")):
                base.write(os.path.join(directory, "cgroup.kill"), "1")
            base.kill_until_empty(lambda: base.subtree_pids(directory))
            base.remove_tree(directory)
        if not existed:
            try:
                os.rmdir(MOUNT + parent)
            except OSError:
                pass  # someone else's cgroups are in it, or it is gone already
    return remove

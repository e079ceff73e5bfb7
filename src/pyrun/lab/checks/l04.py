"""Level 04: UTS and PID namespaces."""

import os

from pyrun.lab import observe
from pyrun.lab.checks import common


def check(lab):
    rootfs = lab.rootfs
    hostname = f"lab-{os.getpid()}"
    run = lab.start("run", "--rootfs", rootfs, "--hostname", hostname, "--",
                    *lab.probe('echo "lab: hostname $(hostname)"', 'echo "lab: pid $$"',
                               common.escape_probe(lab)))
    pid = lab.container(run, "unshare the UTS and PID namespaces in the child, fork the "
                        "init, set the hostname there, then the rootfs as in level 03")
    facts = run.facts()
    lab.ok("the command runs")
    uts_shared = common.same_namespace(pid, lab.box.pid, "uts")
    if uts_shared and facts.get("hostname") == hostname:
        lab.fail("your sethostname renamed the host: the command shares its UTS namespace",
                 "unshare the UTS namespace (namespaces.unshare([..., 'uts'])) before "
                 "sethostname; this checker ran your program in a throwaway namespace, so "
                 "no real host was renamed", run)
    if uts_shared:
        lab.fail("the command shares the host's UTS namespace (hostname)",
                 "unshare it in the intermediate with the others (namespaces.unshare([..., "
                 "'uts', ...])), then set the hostname in the init: "
                 "system.set_hostname(args.hostname)", run)
    if facts.get("hostname") != hostname:
        lab.fail(f"the hostname inside is {facts.get('hostname')!r}, not {hostname!r}",
                 "system.set_hostname(args.hostname) in the container's init", run)
    lab.ok(f"it has a UTS namespace of its own, with the hostname {hostname}")
    if observe.ns_inode(pid, "pid") == observe.ns_inode(os.getpid(), "pid"):
        lab.fail("the command is in the host's PID namespace",
                 "namespaces.unshare([..., 'pid']) in the intermediate, then fork: "
                 "CLONE_NEWPID moves the caller's next child into the new namespace, not "
                 "the caller, so the command must run in a child forked after unshare", run)
    nspid = observe.status(pid)["NSpid"].split()
    if nspid[-1] != "1":
        lab.fail(f"the command is PID {nspid[-1]} in its PID namespace, not PID 1",
                 "the first child forked after unshare(CLONE_NEWPID) is PID 1: exec the "
                 "command in that very child, not in a grandchild", run)
    lab.ok(f"it is PID 1 of a PID namespace of its own (PID {pid} on the host)")
    common.proc_mounted(lab, run, pid)
    escaped = facts.get(common.ESCAPE)
    if escaped:
        lab.fail(f"the command could read a file outside its root through {escaped}: its "
                 f"/proc still shows the host's processes",
                 "a proc mount shows the PID namespace of the process that mounts it: "
                 "mount /proc in the init (PID 1, after the fork), not in the intermediate",
                 run)
    lab.ok("its /proc shows its own processes: /proc/1/root is its own root, no way out")
    lab.finish(run, pid)

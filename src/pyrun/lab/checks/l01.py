"""Level 01: chroot, and breaking out of it."""

from pyrun.lab.checks import common


def check(lab):
    rootfs = lab.rootfs
    run = lab.start("run", "--rootfs", rootfs, "--",
                    *lab.probe('echo "lab: pwd $(pwd)"', common.escape_probe(lab)))
    pid = lab.container(run, "the command is /bin/sh of the rootfs: after the chroot, "
                        "exec still finds it at /bin/sh")
    lab.ok("the command runs")
    common.root_is_rootfs(lab, run, pid, rootfs)
    lab.ok("its / is the rootfs, and its working directory is inside")
    common.proc_mounted(lab, run, pid)
    lab.ok("it has a /proc")
    escaped = run.facts().get(common.ESCAPE)
    if escaped:
        lab.note(f"and yet it could read {escaped.split('/proc/1/root', 1)[1]}, a file "
                 f"outside its root, through {escaped}: PID 1 in that /proc is the host's "
                 f"init, whose root is the host's /. chroot is not a jail; levels 02 to 04 "
                 f"close this door.")
    lab.finish(run, pid)

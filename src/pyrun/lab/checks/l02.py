"""Level 02: the mount namespace and /proc."""

import os

from pyrun.lab.checks import common


def check(lab):
    rootfs = lab.rootfs
    run = lab.start("run", "--rootfs", rootfs, "--",
                    *lab.probe(common.escape_probe(lab)))
    pid = lab.container(run, "unshare the mount namespace, make / private, mount /proc, "
                        "then chroot")
    lab.ok("the command runs")
    common.root_is_rootfs(lab, run, pid, rootfs)
    common.proc_mounted(lab, run, pid)
    lab.ok("its / is the rootfs, with a /proc")
    if common.same_namespace(pid, lab.box.pid, "mnt"):
        lab.fail("the command shares the host's mount namespace: its /proc mount is the "
                 "host's too",
                 "in the child, before mounting: namespaces.unshare(['mount']) "
                 "(unshare(2) with CLONE_NEWNS)", run)
    lab.ok("it has a mount namespace of its own")
    proc_on_host = os.path.join(os.path.realpath(rootfs), "proc")
    leaked = [m for m in lab.box.mountinfo() if m.point == proc_on_host]
    if leaked:
        lab.fail(f"your /proc mount shows in the host's mount table too, at {proc_on_host}",
                 "the host's / is a shared mount (systemd makes it so; so does this "
                 "checker), and a new mount namespace starts as a copy whose mounts are "
                 "its peers: every mount propagates back. Right after unshare, make / "
                 "private, recursively: mounts.make_root_private() (mount(2) with "
                 "MS_REC | MS_PRIVATE on /)", run)
    lab.ok("nothing it mounts shows on the host")
    escaped = run.facts().get(common.ESCAPE)
    if escaped:
        lab.note(f"it could still read a file outside its root through {escaped}: its "
                 f"/proc shows the host's processes (PID 1 is the host's init). Level 03 "
                 f"takes the host's tree out of the namespace, level 04 gives it its own "
                 f"PIDs.")
    lab.finish(run, pid)
    if any(m.point == proc_on_host for m in lab.box.mountinfo()):
        lab.fail("after the command exited, its /proc is still mounted on the host",
                 "mount inside the new mount namespace only", run)
    lab.ok("when the container is gone, so are its mounts: nothing to unmount")

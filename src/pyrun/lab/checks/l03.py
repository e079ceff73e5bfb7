"""Level 03: pivot_root, and a /dev of the container's own."""

import os
import stat

from pyrun.lab import observe
from pyrun.lab.checks import common

NULL = os.makedev(1, 3)


def check(lab):
    rootfs = lab.rootfs
    run = lab.start("run", "--rootfs", rootfs, "--", *lab.probe(common.escape_probe(lab)))
    pid = lab.container(run, "bind the rootfs onto itself, mount /proc and /dev in it, "
                        "then pivot_root")
    lab.ok("the command runs")
    if common.same_namespace(pid, lab.box.pid, "mnt"):
        lab.fail("the command shares the host's mount namespace",
                 "keep level 02's namespaces.unshare(['mount'])", run)
    root = f"/proc/{pid}/root"
    if not observe.same_file(root, rootfs):
        common.root_is_rootfs(lab, run, pid, rootfs)
    if os.readlink(root) != "/":
        lab.fail("the command's / is the rootfs directory inside the host's mount tree, as "
                 "after chroot: the host's tree is still in its mount namespace",
                 "make the rootfs the root mount of the namespace: bind it onto itself "
                 "(mounts.bind_rootfs(rootfs): pivot_root needs a mount point), then "
                 "mounts.pivot_root(fd on the rootfs) instead of chroot", run)
    lab.ok("its / is the rootfs, as the root mount of its namespace")
    host_root = next(m for m in lab.box.mountinfo() if m.point == "/")
    for m in observe.mountinfo(pid):
        if (m.dev, m.root) == (host_root.dev, host_root.root):
            lab.fail(f"the host's root filesystem is still mounted inside the container, at "
                     f"{m.point}",
                     "after pivot_root(new, put_old), the old root sits at put_old: "
                     "unmount it (umount2(put_old, MNT_DETACH)); mounts.pivot_root does "
                     "pivot_root('.', '.') and that unmount for you", run)
    lab.ok("the host's tree is gone from its mount table")
    common.proc_mounted(lab, run, pid)
    check_dev(lab, run, pid)
    escaped = run.facts().get(common.ESCAPE)
    if escaped:
        lab.note(f"yet {escaped} still led out: /proc shows the host's processes, and PID "
                 f"1 there is the host's init. Level 04 gives the container PIDs of its own.")
    lab.finish(run, pid)


def check_dev(lab, run, pid: int) -> None:
    dev = [m for m in observe.mountinfo(pid) if m.point == "/dev"]
    if not dev or dev[-1].fstype != "tmpfs":
        lab.fail("/dev inside is not a tmpfs of the container's own",
                 "mount a tmpfs on ROOTFS/dev before pivot_root: syscalls.mount('tmpfs', "
                 "dev, 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755')", run)
    try:
        st = os.stat(f"/proc/{pid}/root/dev/null")
    except FileNotFoundError:
        lab.fail("there is no /dev/null inside",
                 "make the device nodes in the new /dev: devices.create_node(rootfd, "
                 "'/dev/null', 'c', 1, 3, 0o666, 0, 0), and zero, full, random, urandom, tty",
                 run)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != NULL:
        lab.fail("/dev/null inside is not the null device (character device 1:3)",
                 "devices.create_node(rootfd, '/dev/null', 'c', 1, 3, 0o666, 0, 0)", run)
    if stat.S_IMODE(st.st_mode) != 0o666:
        lab.fail(f"/dev/null inside has mode {stat.S_IMODE(st.st_mode):o}, not 666: "
                 f"programs that are not root cannot write to it",
                 "mknod(2) applies the umask: os.umask(0) before making the nodes", run)
    lab.ok("/dev is a tmpfs of its own, with the device nodes (/dev/null is 1:3, mode 666)")

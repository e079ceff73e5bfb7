"""Checks several levels share: each returns quietly or raises Failure via lab.fail()."""

import os

from pyrun.lab import observe

ESCAPE = "escape"  # the probe's fact when /proc/1/root led outside the container


def escape_probe(lab) -> str:
    """A probe line that tries to read a file outside the rootfs through /proc/1/root, the
    root directory of PID 1 as this container's /proc shows it."""
    secret = os.path.join(lab.tmp, "outside.txt")
    with open(secret, "w") as f:
        f.write("a file outside the container\n")
    return (f'if [ -r /proc/1/root{secret} ]; then echo "lab: {ESCAPE} /proc/1/root{secret}"; '
            f'fi')


def root_is_rootfs(lab, run, pid: int, rootfs: str) -> None:
    """The command's / is the rootfs, and its working directory is inside it."""
    root = f"/proc/{pid}/root"
    if observe.same_file(root, "/"):
        lab.fail("the command's / is the host's /",
                 "chroot into the rootfs in the child, before exec: os.chroot(rootfs)", run)
    if not observe.same_file(root, rootfs):
        lab.fail(f"the command's / is {os.readlink(root)}, not the rootfs {rootfs}",
                 "chroot (or pivot_root) into args.rootfs", run)
    cwd = os.readlink(f"/proc/{pid}/cwd")
    inside = os.readlink(root)
    if inside != "/" and not (cwd == inside or cwd.startswith(inside.rstrip("/") + "/")):
        lab.fail(f"the command's working directory ({cwd}) is outside its root",
                 "chroot(2) does not change the working directory, and from there `cd ..` "
                 "walks up the host's tree: that is the classic chroot escape. "
                 "os.chdir('/') right after os.chroot()", run)


def proc_mounted(lab, run, pid: int) -> observe.Mount:
    """A proc filesystem at /proc as the command sees it; returns that mount."""
    for m in observe.mountinfo(pid):
        if m.point == "/proc" and m.fstype == "proc":
            return m
    lab.fail("there is no proc filesystem on /proc inside the container",
             "ps, top and /proc/self read it: mount one before you enter the rootfs: "
             "syscalls.mount('proc', os.path.join(rootfs, 'proc'), 'proc', flags)", run)
    return None


def same_namespace(pid: int, other: int, kind: str) -> bool:
    return observe.ns_inode(pid, kind) == observe.ns_inode(other, kind)

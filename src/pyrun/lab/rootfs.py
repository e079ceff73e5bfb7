"""A minimal root filesystem for the labs: Debian's static busybox and its applet links, as
examples/make-rootfs.sh makes it (a fresh one per check: a student's program may write in
it, and it costs ~20 ms)."""

import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"
_applets: list[str] = []


class NoBusybox(Exception):
    pass


def applets(busybox: str = BUSYBOX) -> list[str]:
    if not _applets:
        if not os.access(busybox, os.X_OK):
            raise NoBusybox(f"{busybox} is missing: apt-get install busybox-static")
        out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
        _applets.extend(out.stdout.split())
    return _applets


def make_rootfs(dest: str, busybox: str = BUSYBOX) -> str:
    """Build the rootfs at `dest` (created); returns `dest`. World-readable all the way, so
    that a container whose root is a mapped uid (level 07) can use it."""
    names = applets(busybox)
    for d in ("bin", "proc", "dev", "sys", "tmp", "etc", "root", "mnt", "usr"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    shutil.copy2(busybox, os.path.join(dest, "bin", "busybox"))
    for name in names:
        link = os.path.join(dest, "bin", name)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    os.symlink("bin", os.path.join(dest, "sbin"))
    os.symlink("../bin", os.path.join(dest, "usr", "bin"))
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    os.chmod(dest, 0o755)
    return dest

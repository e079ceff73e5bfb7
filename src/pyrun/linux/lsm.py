"""Linux security modules: the AppArmor profile and SELinux label a container's process
is executed under, as runc applies them (libcontainer/apparmor, go-selinux).

Both are set for the next execve, through the process's own attr files in procfs
(proc(5): /proc/PID/attr/exec, and AppArmor's own /proc/PID/attr/apparmor/exec), so
pyrun's own steps run unconfined and the container's program starts confined.
"""

import os

from pyrun.linux import syscalls as real_syscalls

APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
SELINUX_FS = "/sys/fs/selinux"


def apparmor_enabled() -> bool:
    """AppArmor is the active LSM, as runc's apparmor.IsEnabled reads it."""
    try:
        with open(APPARMOR_ENABLED) as f:
            return f.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """selinuxfs is mounted: SELinux is on (enforcing or permissive)."""
    return os.path.isfile(os.path.join(SELINUX_FS, "enforce"))


def exec_under_apparmor_profile(profile: str, sc=real_syscalls) -> None:
    """Have the next execve change to `profile` (aa_change_onexec(2)). The newer per-LSM
    file first (Linux 5.8+, when several LSMs are stacked), then the shared one."""
    for path in ("/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"):
        if os.path.exists(path):
            sc.write_file(path, f"exec {profile}")
            return
    raise FileNotFoundError(2, "no /proc/thread-self/attr/exec (is /proc mounted?)")


def exec_under_selinux_label(label: str, sc=real_syscalls) -> None:
    """Have the next execve run in the SELinux context `label` (setexeccon(3))."""
    sc.write_file("/proc/thread-self/attr/exec", label)


def mount_label_option(label: str) -> str:
    """The mount data that gives a filesystem's files `label` (mount(8): context=)."""
    return f'context="{label}"'

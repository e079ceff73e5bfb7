"""What the parent does for a container's security settings, for `create` and `exec`:
compile its seccomp profile (before anything is made, so a bad profile leaves nothing),
check that the LSM it asks for is there, and hand a seccomp notify fd to its agent."""

import os

from pyrun import config
from pyrun.errors import PyrunError, wrap


def compile_seccomp(profile: config.model_linux.Seccomp | None):
    """The seccomp program for `profile` (None without one), made here in pyrun: the init
    inherits it across fork and only loads it. Kept from an earlier run when there is one
    (seccompcache), else compiled and generated, errors naming the profile's field."""
    if profile is None:
        return None
    from pyrun.linux import seccomp
    from pyrun.runtime import seccompcache

    program = seccompcache.load(seccomp, profile)
    if program is None:
        with wrap("config.json"), seccomp.compile(profile) as filt:
            program = filt.program()
        seccompcache.keep(seccomp, profile, program)
    if program.uses_notify and not profile.listener_path:
        raise PyrunError("config.json: linux.seccomp.listenerPath",
                         "SCMP_ACT_NOTIFY needs an agent to hand the notify fd to")
    return program


def check_lsm(proc: config.Process) -> None:
    """As runc: an AppArmor profile asked for where AppArmor is off is an error; an
    SELinux label where SELinux is off is ignored (it would mean nothing there)."""
    if not proc.apparmor_profile:
        return
    from pyrun.linux import lsm

    if not lsm.apparmor_enabled():
        raise PyrunError("config.json: process.apparmorProfile",
                         f"{proc.apparmor_profile!r} asked for, but AppArmor is not "
                         "enabled on this host")


def hand_over_seccomp_fd(notify_fd: int, profile: config.model_linux.Seccomp,
                         state: dict) -> None:
    """To the agent at listenerPath (compile_seccomp made sure there is one), with the
    container's state (config-linux.md, "Seccomp"); the fd is ours to close either way."""
    try:
        from pyrun.linux import seccomp

        seccomp.send_listener_state(profile.listener_path, notify_fd, state,
                                    profile.listener_metadata)
    finally:
        os.close(notify_fd)

"""A seccomp program as the kernel takes it, after pyrun.linux.seccomp compiled it: BPF
instructions and seccomp(2) flags, plain bytes that can be kept and loaded later by
another process (pyrun.runtime.seccompcache); loading it; and handing its notify fd to the
container's seccomp agent.
"""

import os

from pyrun.errors import PyrunError

PROFILE = "linux.seccomp"


class SeccompError(PyrunError):
    """`what` is the profile field (`linux.seccomp.syscalls[3].action`), `reason` one line."""


# seccomp(2)'s filter flags (<linux/seccomp.h>, kernel ABI), as libseccomp's load sets them.
KERNEL_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
FLAG_TSYNC = 1
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16


class Program:
    """A filter as the kernel takes it: BPF instructions (`bpf`, 8 bytes each) and the
    seccomp(2) flags; `uses_notify` when a rule asks for SCMP_ACT_NOTIFY."""

    def __init__(self, bpf: bytes, flags: int, uses_notify: bool):
        self.bpf = bpf
        self.flags = flags
        self.uses_notify = uses_notify

    def load(self) -> int | None:
        """seccomp(SECCOMP_SET_MODE_FILTER) into the calling process, as libseccomp's
        seccomp_load would (every thread only with TSYNC). Needs CAP_SYS_ADMIN or
        no_new_privs already set: the container's `noNewPrivileges` decides, never this.
        Returns the notify fd (close-on-exec) when a rule uses SCMP_ACT_NOTIFY, else None."""
        # Loaded already (pyrun.linux.seccomp.preload: before pivot_root, in the init).
        from pyrun._seccomp import ffi, lib

        rc = lib.pyrun_seccomp_load_program(ffi.from_buffer(self.bpf), len(self.bpf),
                                            self.flags)
        if rc < 0:
            raise SeccompError(PROFILE, f"loading the filter: {os.strerror(-rc)}")
        return rc if self.uses_notify else None


def kernel_flags(flags: list[str], uses_notify: bool) -> int:
    """The seccomp(2) flags for the profile's `flags` (checked by compile()), as libseccomp
    sets them: a listener when a rule notifies, and TSYNC_ESRCH beside TSYNC (Linux 5.7;
    without it a failed sync returns a thread id, and TSYNC with a listener is refused)."""
    value = 0
    for flag in flags:
        value |= KERNEL_FLAGS[flag]
    if uses_notify:
        value |= FLAG_NEW_LISTENER
    if value & FLAG_TSYNC:
        value |= FLAG_TSYNC_ESRCH
    return value


def send_listener_state(listener_path: str, notify_fd: int, state: dict,
                        metadata: str = "") -> None:
    """Hand the notify fd to the seccomp agent at `listener_path`, as the runtime spec says
    (config-linux.md, "The Container Process State"): one connection to an AF_UNIX stream
    socket, the container process state as JSON, the fd in SCM_RIGHTS with its first
    bytes, then close. `state` is the container's state (`pyrun state`'s object)."""
    import _socket
    import struct

    from pyrun import OCI_VERSION, fastjson

    message = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": state["pid"]}
    if metadata:
        message["metadata"] = metadata
    message["state"] = state
    data = fastjson.dumps(message).encode()
    what = f"{PROFILE}.listenerPath"
    # _socket: the `socket` module imports enum (~4 ms).
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(listener_path)
        fds = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", notify_fd))]
        sent = sock.sendmsg([data], fds)
        if sent < len(data):  # the spec allows more sends, with the fds in the first only
            sock.sendall(data[sent:])
    except OSError as e:
        raise SeccompError(what, f"sending the seccomp fd to {listener_path}: "
                                 f"{e.strerror or e}") from None
    finally:
        sock.close()

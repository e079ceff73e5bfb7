"""The student's "host": throwaway namespaces that every program a checker runs joins.

A lab program mounts, pivots, renames hosts and makes network interfaces. Run as is on a
student's machine, a bug would do that to the machine itself. So the checker first makes
new mount, network, UTS and IPC namespaces, held open by one sleeping process (the
holder), and starts the student's program inside them: its "host" is that box.

    * mount: the holder makes its copy of / private (cut from the real host), then shared
      again, inside the box only. The box thus looks like a systemd host (/ shared), which
      is what level 02 teaches about, and nothing mounted in it reaches the real host.
    * network: a new namespace with only `lo`: the veths of level 08 and every packet stay
      inside; they vanish with it.
    * UTS, IPC: a sethostname without a UTS namespace renames the box, not the machine.

When the holder and every process that joined the box are gone, the namespaces and all
their mounts and interfaces go with them: nothing to undo by hand.
"""

import os
import signal
import subprocess

from pyrun.lab import observe
from pyrun.linux import network, syscalls

KINDS = ("ipc", "uts", "net", "mnt")  # setns order: the mount namespace last
FLAGS = (syscalls.CLONE_NEWNS | syscalls.CLONE_NEWNET | syscalls.CLONE_NEWUTS
         | syscalls.CLONE_NEWIPC)


class BoxError(Exception):
    pass


class Box:
    def __init__(self, cwd: str = "/"):
        self.cwd = cwd
        ready_r, ready_w = os.pipe()
        hold_r, hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(hold_w)
            _holder(ready_w, hold_r)  # never returns
        os.close(ready_w)
        os.close(hold_r)
        message = os.read(ready_r, 4096)
        os.close(ready_r)
        self.pid = pid
        self._hold = hold_w
        if message != b"ok":
            self.close()
            raise BoxError("cannot make the checker's namespaces: " +
                           (message.decode(errors="replace") or "the holder died"))
        self.inodes = {kind: observe.ns_inode(pid, kind)
                       for kind in (*KINDS, "pid", "user", "cgroup")}

    def enter(self) -> None:
        """Join the box (in a child, before exec: Popen's preexec_fn)."""
        fds = [os.open(f"/proc/{self.pid}/ns/{kind}", os.O_RDONLY) for kind in KINDS]
        root = os.open(f"/proc/{self.pid}/root", os.O_RDONLY | os.O_DIRECTORY)
        for fd in fds:
            syscalls.setns(fd, 0)
            os.close(fd)
        # Joining a mount namespace moves the caller to the namespace's root. Take the
        # holder's root instead: the same unless the checker runs chrooted (as in the VM).
        os.fchdir(root)
        os.chroot(".")
        os.close(root)
        os.chdir(self.cwd)

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(argv, preexec_fn=self.enter, **kw)

    def mountinfo(self) -> list[observe.Mount]:
        """The box's mount table: what the student's program calls the host's."""
        return observe.mountinfo(self.pid)

    def close(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass


def _holder(ready: int, hold: int) -> None:
    try:
        syscalls.set_pdeathsig(signal.SIGKILL)  # never outlive the checker
        syscalls.unshare(FLAGS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SHARED)
        network.loopback_up()
        os.write(ready, b"ok")
        os.read(hold, 1)  # until the checker closes its end (or dies)
    except BaseException as e:
        try:
            os.write(ready, f"{type(e).__name__}: {e}".encode())
        except OSError:
            pass
    os._exit(0)

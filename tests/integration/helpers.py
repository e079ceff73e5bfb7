"""Small helpers for integration tests: run a container, read a process's view from outside."""

import json
import os


def run_in_container(pyrun, make_bundle, container_id, script: str, **config):
    """`pyrun run` of `sh -c script` in a default bundle; returns the CompletedProcess."""
    bundle = make_bundle(args=("sh", "-c", script), **config)
    return pyrun("run", "-b", bundle, container_id)


def state_of(pyrun, container_id) -> dict:
    result = pyrun("state", container_id)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def ns_inode(pid, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def is_gone(pid: int) -> bool:
    """Exited: no /proc entry, or a zombie its (non-pyrun) parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):  # reaped before or during the read
        return True


def can_make_user_namespaces() -> bool:
    """False when this process runs chrooted (in the kernel's sense: its root is not its
    mount namespace's), where unshare(CLONE_NEWUSER) is refused and setns() to a mount
    namespace leaves the chroot; or when user namespaces are off."""
    import subprocess

    return subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode == 0

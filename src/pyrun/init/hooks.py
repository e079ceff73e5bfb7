"""The hooks that run in the container's namespaces: createContainer (before pivot_root)
and startContainer (just before execve); and the init's part in prestart and
createRuntime, which P runs when the init asks (after the mounts, before pivot_root:
runtime.md, "Lifecycle" step 5). See pyrun.linux.hooks for how one hook runs."""

import os

from pyrun.config import Config
from pyrun.errors import PyrunError
from pyrun.linux.sync import Channel

# The hooks of create and start; poststart and poststop are P's alone.
BEFORE_EXEC = ("prestart", "createRuntime", "createContainer", "startContainer")


def run_create_hooks(cfg: Config, cgroup, chan: Channel):
    """prestart and createRuntime (P runs them, in the runtime namespace), then
    createContainer (here, in the container's namespaces, before pivot_root). Returns
    the state the hooks were given (None without hooks), for startContainer."""
    if not any(name in cfg.hooks for name in BEFORE_EXEC):
        return None
    from pyrun.linux import hooks

    hooks.preload()  # startContainer runs after pivot_root, where the stdlib is out of reach
    cgroup.complete()  # the hooks see the container wholly in its cgroup
    state = chan.request_runtime_hooks()
    _run(cfg, "createContainer", state, cwd=cfg.root.path)  # runc's: in the rootfs
    return state


def run_start_hooks(cfg: Config, hook_state, fifo_fd: int) -> None:
    """startContainer, after start and before execve. A failure is written to exec.fifo,
    which `pyrun start` reads until execve closes it."""
    if not cfg.hooks.get("startContainer"):
        return
    try:
        _run(cfg, "startContainer", dict(hook_state, status="created"))
    except PyrunError as e:
        os.write(fifo_fd, e.message.encode())
        raise


def _run(cfg: Config, name: str, hook_state: dict, cwd: str | None = None) -> None:
    entries = cfg.hooks.get(name)
    if entries:
        from pyrun.linux import hooks

        hooks.run_hooks(entries, hook_state, name=name, cwd=cwd)

"""OCI hooks: programs the runtime runs at fixed points of a container's lifecycle.

config.md, "POSIX-platform Hooks": each hook is `path` (absolute, execv's path), `args`
(execv's argv), `env` (the environ, exactly), and an optional `timeout` in seconds. "Hooks
MUST be called in the listed order", and "the state of the container MUST be passed to
hooks over stdin". Where each kind runs (runtime.md, "Lifecycle"):

    prestart, createRuntime   create, in the runtime namespace, before pivot_root
    createContainer           create, in the container namespace, before pivot_root
                              (its path resolves in the runtime namespace)
    startContainer            start, in the container namespace, just before execve
                              (its path resolves in the container namespace)
    poststart                 start, in the runtime namespace, after the program started
    poststop                  delete, in the runtime namespace, after the container is gone

A failing prestart, createRuntime, createContainer or startContainer hook is an error:
the runtime stops the container and destroys it. A failing poststart or poststop hook is
only a warning, "but the remaining hooks and lifecycle continue as if the hook had
succeeded" (runtime.md, "Lifecycle", steps 9 and 13). `run_hooks` is for the first kind
(it stops at the first failure), `run_hooks_best_effort` for the second. Reporting is the
caller's: this module runs hooks and says what went wrong in one line.

Each hook is an object with the config's attributes (pyrun.config.model.Hook: path,
args, env, timeout). `subprocess` and `json` are imported inside the functions: a
container without hooks pays nothing for them. A process that runs hooks after
pivot_root (startContainer, in the init) must call `preload()` while the host's standard
library is still reachable.
"""

import _signal
import os

from pyrun.errors import PyrunError


class HookError(PyrunError):
    """A hook failed: one line, e.g. "poststop hook /bin/x: exited with status 1"."""


def preload() -> None:
    """Import what run_hook needs, while the standard library is still reachable (before
    pivot_root, in a process that will run startContainer hooks)."""
    import json  # noqa: F401
    import subprocess  # noqa: F401


def run_hooks(hooks, state: dict, *, name: str, cwd: str | None = None) -> None:
    """Run `hooks` in order, stopping at the first failure (config.md: "Hooks MUST be
    called in the listed order")."""
    for hook in hooks:
        run_hook(hook, state, name=name, cwd=cwd)


def run_hooks_best_effort(hooks, state: dict, *, name: str,
                          cwd: str | None = None) -> list[HookError]:
    """Run every hook, whatever the others did; return the failures, in order, for the
    caller to warn about (runtime.md: poststart and poststop hooks)."""
    failures = []
    for hook in hooks:
        try:
            run_hook(hook, state, name=name, cwd=cwd)
        except HookError as e:
            failures.append(e)
    return failures


def run_hook(hook, state: dict, *, name: str, cwd: str | None = None) -> None:
    """Run one hook with the container's state JSON on its stdin; raise HookError if it
    cannot start, exits non-zero, dies by a signal, or outlives its timeout.

    argv is `args` as given (args[0] is argv[0]; [path] when args is empty) and the
    environment is exactly `env`: nothing of pyrun's own leaks in (config.md: "env ... with
    the same semantics as IEEE Std 1003.1-2008's environ"). The hook's stdout goes to
    pyrun's stderr: pyrun's stdout (or the container's) is a stream engines parse, and a
    hook must not write into it. The hook leads a new session, so a timeout kills it and
    every process it started (config.md: "timeout ... the number of seconds before
    aborting the hook").
    """
    import subprocess

    where = f"{name} hook {hook.path}"
    try:
        proc = subprocess.Popen(hook.args or [hook.path], executable=hook.path, cwd=cwd,
                                env=_environ(hook.env), stdin=subprocess.PIPE, stdout=2,
                                close_fds=True, start_new_session=True)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in args or env
        raise HookError(where, getattr(e, "strerror", None) or str(e)) from None
    try:
        proc.communicate(encode_state(state), timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        _kill_session(proc)
        raise HookError(where, f"timed out after {hook.timeout} s") from None
    except BaseException:  # interrupted: never leave the hook running behind us
        _kill_session(proc)
        raise
    if proc.returncode:
        raise HookError(where, _exit_text(proc.returncode))


def state_for_hooks(*, oci_version: str, container_id: str, status: str, pid: int | None,
                    bundle: str, annotations: dict | None) -> dict:
    """The state object of runtime.md ("State"): ociVersion, id, status, pid (the
    container process as seen by the host; left out when there is none, as once stopped),
    bundle, and annotations (left out when empty)."""
    state = {"ociVersion": oci_version, "id": container_id, "status": status}
    if pid:
        state["pid"] = pid
    state["bundle"] = bundle
    if annotations:
        state["annotations"] = dict(annotations)
    return state


def encode_state(state: dict) -> bytes:
    """Compact JSON, as the hook reads it on stdin."""
    import json

    return json.dumps(state, separators=(",", ":")).encode()


def _environ(env: list[str]) -> dict[str, str]:
    """`env` as the mapping Popen wants. A later duplicate wins (as in Go's os/exec, so
    as in runc); an entry without "=" cannot be passed by Popen and is dropped."""
    return dict(e.split("=", 1) for e in env if "=" in e)


def _kill_session(proc) -> None:
    """SIGKILL the hook's process group (it leads its own session), then reap the hook."""
    try:
        os.killpg(proc.pid, _signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    try:
        proc.stdin.close()
    except OSError:
        pass  # a pipe the dead hook never drained


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"

"""pyrun.linux.hooks: running one OCI hook (argv, environ, stdin, stdout, timeout, errors)."""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from pyrun.config import Hook, parse_hooks
from pyrun.linux.hooks import (
    HookError,
    encode_state,
    run_hook,
    run_hooks,
    run_hooks_best_effort,
    state_for_hooks,
)
from tests.procs import live_processes_with

STATE = {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 4242,
         "bundle": "/b", "annotations": {"k": "v"}}

# Python prints what it was started with, as the kernel saw it: /proc/self/cmdline is the
# exact argv, /proc/self/environ the exact environment (before Python's own changes, such
# as its locale coercion, which would show in os.environ).
SHOW_EXEC = """
import json, sys
def read(name):
    with open(f"/proc/self/{name}", "rb") as f:
        return [s.decode() for s in f.read().split(b"\\0")[:-1]]
with open(sys.argv[-1], "w") as f:
    json.dump({"argv": read("cmdline"), "environ": read("environ")}, f)
"""


def script(tmp_path, body: str, name: str = "hook") -> str:
    path = tmp_path / name
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


def sh(tmp_path, body: str, name: str = "hook") -> str:
    return script(tmp_path, "#!/bin/sh\n" + body, name)




# ---------------------------------------------------------------------------------------
# Hook and the state object


def from_json(entry: dict) -> Hook:
    """One hook as config.json (and state.json) gives it."""
    return parse_hooks({"poststop": [entry]})["poststop"][0]


def test_hook_from_json_with_every_field():
    hook = from_json({"path": "/bin/x", "args": ["x", "-v"], "env": ["A=1"], "timeout": 5})
    assert (hook.path, hook.args, hook.env, hook.timeout) == ("/bin/x", ["x", "-v"],
                                                              ["A=1"], 5)


def test_hook_from_json_with_only_a_path():
    hook = from_json({"path": "/bin/x"})
    assert (hook.path, hook.args, hook.env, hook.timeout) == ("/bin/x", [], [], None)


def test_hook_has_slots():
    with pytest.raises(AttributeError):
        Hook("/bin/x").other = 1


def test_hook_error_is_not_an_os_error():
    err = HookError("poststop hook /x: exited with status 1")
    assert not isinstance(err, OSError)
    assert err.message == str(err) == "poststop hook /x: exited with status 1"


def test_state_for_hooks_has_every_key_in_order():
    state = state_for_hooks(oci_version="1.0.2", container_id="c1", status="created",
                            pid=42, bundle="/b", annotations={"k": "v"})
    assert list(state) == ["ociVersion", "id", "status", "pid", "bundle", "annotations"]
    assert state == {"ociVersion": "1.0.2", "id": "c1", "status": "created", "pid": 42,
                     "bundle": "/b", "annotations": {"k": "v"}}


@pytest.mark.parametrize("pid", [0, None])
def test_state_for_hooks_leaves_out_no_pid_and_no_annotations(pid):
    state = state_for_hooks(oci_version="1.0.2", container_id="c1", status="stopped",
                            pid=pid, bundle="/b", annotations={})
    assert state == {"ociVersion": "1.0.2", "id": "c1", "status": "stopped", "bundle": "/b"}


def test_encode_state_is_compact_json():
    assert encode_state({"id": "c1", "pid": 7}) == b'{"id":"c1","pid":7}'


def test_importing_hooks_imports_neither_subprocess_nor_json():
    code = ("import sys, pyrun.linux.hooks; "
            "print(sorted({'subprocess', 'json'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------------
# What the hook gets


def test_stdin_is_exactly_the_state_json(tmp_path):
    out = tmp_path / "stdin"
    hook = Hook(sh(tmp_path, 'cat > "$1"\n'), args=["hook", str(out)])
    run_hook(hook, STATE, name="createRuntime")
    data = out.read_bytes()
    assert data == json.dumps(STATE, separators=(",", ":")).encode()
    assert json.loads(data) == STATE


def test_argv_is_args_with_args0_as_argv0(tmp_path):
    out = tmp_path / "argv0"
    # `sh -c CMD` with no further argument: $0 is the shell's own argv[0].
    hook = Hook("/bin/sh", args=["my-hook-name", "-c", f'printf %s "$0" > {out}'])
    run_hook(hook, STATE, name="prestart")
    assert out.read_text() == "my-hook-name"


def test_argv_and_environ_are_exactly_args_and_env(tmp_path):
    out = tmp_path / "exec.json"
    args = ["custom-argv0", "-c", SHOW_EXEC, "two words", str(out)]
    env = ["A=1", "B=two words", "EMPTY="]
    run_hook(Hook(sys.executable, args=args, env=env), STATE, name="poststart")
    seen = json.loads(out.read_text())
    assert seen["argv"] == args
    assert seen["environ"] == env


def test_environ_is_empty_without_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRUN_SECRET", "must-not-leak")
    out = tmp_path / "exec.json"
    run_hook(Hook(sys.executable, args=["py", "-c", SHOW_EXEC, str(out)]), STATE,
             name="poststart")
    assert json.loads(out.read_text())["environ"] == []


def test_a_later_duplicate_in_env_wins(tmp_path):
    out = tmp_path / "exec.json"
    run_hook(Hook(sys.executable, args=["py", "-c", SHOW_EXEC, str(out)],
                  env=["X=1", "Y=y", "X=2"]), STATE, name="poststart")
    assert sorted(json.loads(out.read_text())["environ"]) == ["X=2", "Y=y"]


def test_without_args_the_hook_gets_no_arguments(tmp_path):
    out = tmp_path / "count"
    path = sh(tmp_path, f'echo "$#" > {out}\n')
    run_hook(Hook(path), STATE, name="poststop")
    assert out.read_text() == "0\n"


def test_hook_output_goes_to_stderr_never_stdout(tmp_path, capfd):
    path = sh(tmp_path, "echo to-stdout\necho to-stderr >&2\n")
    run_hook(Hook(path), STATE, name="poststart")
    out, err = capfd.readouterr()
    assert out == ""
    assert err == "to-stdout\nto-stderr\n"


def test_hook_inherits_no_fds_but_stdio(tmp_path):
    out = tmp_path / "fds"
    r, w = os.pipe()
    extra = os.dup2(w, 100, inheritable=True)
    try:
        code = ("import os, sys; fds = ' '.join(sorted(os.listdir('/proc/self/fd'))); "
                "open(sys.argv[1], 'w').write(fds)")
        run_hook(Hook(sys.executable, args=["py", "-c", code, str(out)]), STATE,
                 name="createRuntime")
    finally:
        for fd in (r, w, extra):
            os.close(fd)
    fds = out.read_text().split()
    assert {"0", "1", "2"} <= set(fds)
    assert str(extra) not in fds
    assert len(fds) <= 4  # stdio and the directory listdir opened


def test_a_hook_that_ignores_a_large_state_succeeds(tmp_path):
    state = dict(STATE, annotations={"big": "x" * 300_000})  # more than a pipe holds
    run_hook(Hook(sh(tmp_path, "exit 0\n")), state, name="createRuntime")


# ---------------------------------------------------------------------------------------
# Failures


def test_non_zero_exit(tmp_path):
    path = sh(tmp_path, "exit 3\n")
    with pytest.raises(HookError) as e:
        run_hook(Hook(path), STATE, name="createRuntime")
    assert e.value.message == f"createRuntime hook {path}: exited with status 3"


def test_killed_by_a_signal(tmp_path):
    path = sh(tmp_path, "kill -9 $$\n")
    with pytest.raises(HookError) as e:
        run_hook(Hook(path), STATE, name="poststart")
    assert e.value.message == f"poststart hook {path}: killed by signal 9"


def test_missing_path(tmp_path):
    path = str(tmp_path / "missing")
    with pytest.raises(HookError) as e:
        run_hook(Hook(path), STATE, name="prestart")
    assert e.value.message == f"prestart hook {path}: No such file or directory"


def test_path_not_executable(tmp_path):
    path = sh(tmp_path, "exit 0\n")
    os.chmod(path, 0o644)
    with pytest.raises(HookError) as e:
        run_hook(Hook(path), STATE, name="createContainer")
    assert e.value.message == f"createContainer hook {path}: Permission denied"


def test_timeout_kills_the_hook_and_its_children(tmp_path):
    token = f"100.{uuid.uuid4().int % 10**9:09d}"  # sleep 100.xxx: found by its argument
    path = sh(tmp_path, f"sleep {token} &\nwait\n")
    started = time.monotonic()
    with pytest.raises(HookError) as e:
        run_hook(Hook(path, timeout=1), STATE, name="createRuntime")
    elapsed = time.monotonic() - started
    assert e.value.message == f"createRuntime hook {path}: timed out after 1 s"
    assert 1 <= elapsed < 5
    deadline = time.monotonic() + 2
    while live_processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live_processes_with(token) == []


def test_a_hook_within_its_timeout_succeeds(tmp_path):
    run_hook(Hook(sh(tmp_path, "cat > /dev/null\n"), timeout=5), STATE, name="poststop")


# ---------------------------------------------------------------------------------------
# run_hooks


def test_run_hooks_runs_in_order(tmp_path):
    log = tmp_path / "log"
    path = sh(tmp_path, f'echo "$1" >> {log}\n')
    hooks = [Hook(path, args=["hook", str(n)]) for n in range(3)]
    run_hooks(hooks, STATE, name="poststart")
    assert log.read_text() == "0\n1\n2\n"


def test_run_hooks_stops_at_the_first_failure(tmp_path):
    marker = tmp_path / "marker"
    failing = sh(tmp_path, "exit 1\n", name="failing")
    second = sh(tmp_path, f"touch {marker}\n", name="second")
    with pytest.raises(HookError) as e:
        run_hooks([Hook(failing), Hook(second)], STATE, name="createRuntime")
    assert e.value.message == f"createRuntime hook {failing}: exited with status 1"
    assert not marker.exists()


def test_run_hooks_with_no_hooks_starts_no_process(monkeypatch):
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **kw: started.append(a))
    run_hooks([], STATE, name="poststop")
    assert run_hooks_best_effort([], STATE, name="poststop") == []
    assert started == []


def test_run_hooks_best_effort_runs_every_hook_and_returns_the_failures(tmp_path):
    log = tmp_path / "log"
    failing = sh(tmp_path, "exit 2\n", name="failing")
    missing = str(tmp_path / "missing")
    logging = sh(tmp_path, f'echo "$1" >> {log}\n', name="logging")
    hooks = [Hook(failing), Hook(logging, args=["hook", "a"]), Hook(missing),
             Hook(logging, args=["hook", "b"])]
    failures = run_hooks_best_effort(hooks, STATE, name="poststop")
    assert [f.message for f in failures] == [
        f"poststop hook {failing}: exited with status 2",
        f"poststop hook {missing}: No such file or directory",
    ]
    assert log.read_text() == "a\nb\n"


def test_run_hooks_best_effort_with_no_failure_returns_nothing(tmp_path):
    assert run_hooks_best_effort([Hook(sh(tmp_path, "exit 0\n"))], STATE,
                                 name="poststart") == []

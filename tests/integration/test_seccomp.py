"""linux.seccomp in real containers: what a process inside may call, checked by calling."""

import errno
import hashlib
import json
import os
import socket
import threading

import pytest

from pyrun.runtime import seccompcache
from tests.integration.bundles import default_config
from tests.integration.test_seccomp_filter import answer, mkdir_nr
from tests.seccomp_profiles import Arg, Profile, Rule, deny, docker_default, to_oci

# Also on a pure cgroup v2 kernel (make vm-test): the device filter is eBPF there.
pytestmark = pytest.mark.vm

PER_LINUX32 = 0x0008


def config_with(profile, script: str, **process) -> dict:
    config = default_config(args=("sh", "-c", script), **process)
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    if profile is not None:
        config["linux"]["seccomp"] = to_oci(profile) if isinstance(profile, Profile) \
            else profile
    return config


def run(pyrun, make_bundle, container_id, profile, script, **process):
    bundle = make_bundle(config=config_with(profile, script, **process))
    return pyrun("run", "-b", bundle, container_id)


def test_a_denied_mkdir_fails_with_eperm_while_the_rest_works(pyrun, make_bundle,
                                                              container_id):
    result = run(pyrun, make_bundle, container_id, deny("mkdir", "mkdirat"),
                 "mkdir /tmp/x; echo still here; touch /tmp/y && ls /tmp")
    assert result.returncode == 0, result.stderr
    assert "mkdir: can't create directory '/tmp/x': Operation not permitted" in result.stderr
    assert result.stdout.split() == ["still", "here", "y"]


def test_a_kept_program_is_loaded_and_a_damaged_one_never(pyrun, make_bundle, container_id,
                                                         tmp_path, monkeypatch):
    """Runs after the first load the program it kept (pyrun.runtime.seccompcache): shown by
    changing the kept program, checksum and all, into one that allows mkdir. A kept file
    whose program no longer matches its checksum is not loaded, but made again."""
    cache = tmp_path / "seccomp-cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("PYRUN_SECCOMP_CACHE", str(cache))

    def mkdir_denied(run_id):
        result = run(pyrun, make_bundle, run_id, deny("mkdir", "mkdirat"),
                     "mkdir /tmp/x; echo still here")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["still", "here"]
        return "Operation not permitted" in result.stderr

    assert mkdir_denied(container_id)
    [kept] = cache.iterdir()
    head = len(seccompcache.MAGIC) + seccompcache.HEADER_SIZE
    original = kept.read_bytes()
    eperm = (0x00050000 | errno.EPERM).to_bytes(4, "little")  # SECCOMP_RET_ERRNO | EPERM
    allow = (0x7FFF0000).to_bytes(4, "little")  # SECCOMP_RET_ALLOW
    assert eperm in original[head:]
    opened = original[head:].replace(eperm, allow)

    digest_at = head - 32
    kept.write_bytes(original[:digest_at] + hashlib.sha256(opened).digest() + opened)
    assert not mkdir_denied(f"{container_id}-b"), "the kept program was not the one loaded"

    kept.write_bytes(original[:head] + opened)  # the checksum of the original
    assert mkdir_denied(f"{container_id}-c"), "a damaged program was loaded"
    assert kept.read_bytes() == original, "the damaged program was not made again"


def test_without_the_profile_mkdir_works(pyrun, make_bundle, container_id):
    """The control for the test above."""
    result = run(pyrun, make_bundle, container_id, None, "mkdir /tmp/x && ls /tmp")
    assert result.stdout.split() == ["x"], result.stderr


def test_errno_ret_of_a_rule(pyrun, make_bundle, container_id):
    result = run(pyrun, make_bundle, container_id,
                 deny("mkdir", "mkdirat", errno_ret=errno.EXDEV), "mkdir /tmp/x")
    assert "Invalid cross-device link" in result.stderr, result.stderr


def test_default_errno_ret_is_honoured(pyrun, make_bundle, container_id):
    # Docker's profile, its default errno changed: a syscall it does not list (unshare,
    # without CAP_SYS_ADMIN) gets that errno.
    profile = docker_default()
    profile.default_errno_ret = errno.EOPNOTSUPP
    result = run(pyrun, make_bundle, container_id, profile, "unshare -m true; echo ran")
    assert "ran" in result.stdout, result.stderr
    assert "Operation not supported" in result.stderr, result.stderr


def test_docker_default_profile_runs_a_shell(pyrun, make_bundle, container_id):
    result = run(pyrun, make_bundle, container_id, docker_default(),
                 "echo hi > /tmp/f && cat /tmp/f && ls / > /dev/null && echo ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hi", "ok"]


def test_an_argument_filter_denies_only_the_value_it_names(pyrun, make_bundle, container_id):
    # personality(PER_LINUX32) refused, any other persona allowed.
    profile = Profile(syscalls=[Rule(["personality"], "SCMP_ACT_ERRNO",
                                     args=[Arg(0, PER_LINUX32, "SCMP_CMP_EQ")])])
    result = run(pyrun, make_bundle, container_id, profile,
                 "linux64 uname -m; linux32 uname -m; echo done")
    assert result.stdout.split() == ["x86_64", "done"], (result.stdout, result.stderr)
    assert "Operation not permitted" in result.stderr


def test_kill_process_kills_the_caller(pyrun, make_bundle, container_id):
    profile = Profile(syscalls=[Rule(["mkdir", "mkdirat"], "SCMP_ACT_KILL_PROCESS")])
    result = run(pyrun, make_bundle, container_id, profile, "exec mkdir /tmp/x")
    assert result.returncode == 128 + 31, (result.returncode, result.stderr)  # SIGSYS


def test_an_unknown_syscall_name_is_skipped(pyrun, make_bundle, container_id):
    result = run(pyrun, make_bundle, container_id,
                 deny("mkdir", "mkdirat", "no_such_syscall_at_all"), "mkdir /tmp/x; echo ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok"]
    assert "Operation not permitted" in result.stderr


def test_exec_loads_the_containers_filter_too(pyrun, make_bundle, container_id):
    bundle = make_bundle(config=config_with(deny("mkdir", "mkdirat"), "sleep 100"))
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    try:
        result = pyrun("exec", container_id, "mkdir", "/tmp/x")
        assert result.returncode == 1
        assert "Operation not permitted" in result.stderr
        assert pyrun("exec", container_id, "touch", "/tmp/y").returncode == 0
    finally:
        pyrun("delete", "--force", container_id)


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_a_notify_listener_gets_the_fd_and_answers(pyrun, make_bundle, container_id,
                                                   tmp_path, no_new_privileges):
    """SCMP_ACT_NOTIFY: pyrun hands the notify fd and the state to the agent on
    listenerPath; the agent here fails mkdir with EXDEV."""
    path = str(tmp_path / "agent.sock")
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    agent.bind(path)
    agent.listen(1)
    seen = {}

    def serve():
        conn, _ = agent.accept()
        with conn:
            data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
        seen["message"] = json.loads(data)
        seen["call"] = answer(fds[0], errno.EXDEV)
        os.close(fds[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    profile = Profile(syscalls=[Rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY")],
                      listener_path=path, listener_metadata="test-agent")
    try:
        result = run(pyrun, make_bundle, container_id, profile, "mkdir /tmp/x; echo done",
                     noNewPrivileges=no_new_privileges)
    finally:
        thread.join(10)
        agent.close()
    assert "Invalid cross-device link" in result.stderr, result.stderr
    message = seen["message"]
    assert message["fds"] == ["seccompFd"] and message["metadata"] == "test-agent"
    assert message["state"]["id"] == container_id and message["pid"] > 0
    assert seen["call"]["nr"] in (mkdir_nr(), 258)  # mkdir, or mkdirat (x86_64: 258)


@pytest.mark.parametrize(("seccomp", "field"), [
    ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]},
     "linux.seccomp.syscalls[0].action"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]},
     "linux.seccomp.syscalls[0].args[0].op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]},
     "linux.seccomp.architectures[0]"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.listenerPath"),
])
def test_a_bad_profile_is_one_line_naming_the_field(pyrun, make_bundle, container_id,
                                                    seccomp, field):
    result = run(pyrun, make_bundle, container_id, seccomp, "true")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pyrun: run {container_id}: config.json: "
                                                   f"{field}"), result.stderr

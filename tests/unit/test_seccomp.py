"""pyrun.linux.seccomp without root: name tables, what compile() accepts and refuses, and
the listener hand-off. Nothing here loads a filter (tests/integration does, in children)."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from pyrun import OCI_VERSION
from pyrun.linux import seccomp
from pyrun.linux.seccomp import SeccompError
from tests.seccomp_profiles import Arg, Profile, Rule, deny, docker_default

# The lists of the runtime spec (config-linux.md, "Seccomp").
SPEC_ACTIONS = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"}
SPEC_OPERATORS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                  "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
SPEC_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
              "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}


def test_name_tables_are_the_specs():
    assert set(seccomp.ACTIONS) == SPEC_ACTIONS
    assert set(seccomp.OPERATORS) == SPEC_OPERATORS
    assert set(seccomp.FLAGS) == SPEC_FLAGS
    assert len(seccomp.ARCHITECTURES) == len(set(seccomp.ARCHITECTURES)) == 23
    assert all(a.startswith("SCMP_ARCH_") for a in seccomp.ARCHITECTURES)


def test_import_loads_neither_libseccomp_nor_heavy_modules():
    code = ("import sys, pyrun.linux.seccomp; "
            "print(sorted(m for m in ('pyrun._seccomp', 'cffi', 'json', 'socket', 'enum', 're')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


def test_what_this_machine_supports():
    assert re.fullmatch(r"\d+\.\d+\.\d+", seccomp.version())
    actions = seccomp.supported_actions()
    assert set(actions) <= SPEC_ACTIONS
    assert {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"} <= set(actions)
    assert set(seccomp.supported_flags()) <= SPEC_FLAGS
    archs = seccomp.supported_architectures()
    assert set(archs) <= set(seccomp.ARCHITECTURES)
    if os.uname().machine == "x86_64":
        assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"} <= set(archs)


def _error(profile) -> SeccompError:
    with pytest.raises(SeccompError) as caught:
        seccomp.compile(profile).release()
    return caught.value


def _args(*args):
    return Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_ERRNO"),
                             Rule(["personality"], "SCMP_ACT_ERRNO", args=list(args))])


@pytest.mark.parametrize(("profile", "what", "reason"), [
    (Profile(default_action="SCMP_ACT_NOPE"), "linux.seccomp.defaultAction",
     "unknown action 'SCMP_ACT_NOPE'"),
    (Profile(default_action="SCMP_ACT_NOTIFY"), "linux.seccomp.defaultAction",
     "cannot be the default action"),
    (Profile(default_action="SCMP_ACT_ALLOW", default_errno_ret=1),
     "linux.seccomp.defaultErrnoRet", "SCMP_ACT_ALLOW takes no errno"),
    (Profile(default_action="SCMP_ACT_ERRNO", default_errno_ret=65536),
     "linux.seccomp.defaultErrnoRet", "from 0 to 65535"),
    (Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_ERRNO"), Rule(["rmdir"], "SCMP_ACT_DENY")]),
     "linux.seccomp.syscalls[1].action", "unknown action 'SCMP_ACT_DENY'"),
    (Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_KILL", errno_ret=5)]),
     "linux.seccomp.syscalls[0].errnoRet", "SCMP_ACT_KILL takes no errno"),
    (Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_LOG", errno_ret=5)]),
     "linux.seccomp.syscalls[0].errnoRet", "takes no errno"),
    (Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_NOTIFY", errno_ret=5)]),
     "linux.seccomp.syscalls[0].errnoRet", "takes no errno"),
    (Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_ERRNO", errno_ret=-1)]),
     "linux.seccomp.syscalls[0].errnoRet", "from 0 to 65535, got -1"),
    (Profile(syscalls=[Rule([], "SCMP_ACT_ERRNO")]),
     "linux.seccomp.syscalls[0].names", "at least one"),
    (Profile(syscalls=[Rule(["mkdir", ""], "SCMP_ACT_ERRNO")]),
     "linux.seccomp.syscalls[0].names[1]", "expected a syscall name"),
    (_args(Arg(0, 1, "SCMP_CMP_EQ"), Arg(1, 1, "SCMP_CMP_SAME")),
     "linux.seccomp.syscalls[1].args[1].op", "unknown operator 'SCMP_CMP_SAME'"),
    (_args(Arg(6, 1, "SCMP_CMP_EQ")), "linux.seccomp.syscalls[1].args[0].index",
     "expected 0 to 5, got 6"),
    (_args(Arg(0, -1, "SCMP_CMP_EQ")), "linux.seccomp.syscalls[1].args[0].value",
     "64-bit unsigned"),
    (_args(Arg(0, 1, "SCMP_CMP_MASKED_EQ", 1 << 64)),
     "linux.seccomp.syscalls[1].args[0].valueTwo", "64-bit unsigned"),
    (Profile(architectures=["SCMP_ARCH_X86", "SCMP_ARCH_Z80"]),
     "linux.seccomp.architectures[1]", "unknown architecture 'SCMP_ARCH_Z80'"),
    (Profile(architectures=["x86_64"]), "linux.seccomp.architectures[0]",
     "unknown architecture 'x86_64'"),
    (Profile(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_FAST"]),
     "linux.seccomp.flags[1]", "unknown flag 'SECCOMP_FILTER_FLAG_FAST'"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_errors_name_the_field(profile, what, reason):
    err = _error(profile)
    assert err.what == what
    assert reason in err.reason
    assert "\n" not in str(err)


def test_architecture_this_libseccomp_lacks():
    missing = [a for a in seccomp.ARCHITECTURES if a not in seccomp.supported_architectures()]
    if not missing:
        pytest.skip(f"libseccomp {seccomp.version()} knows every architecture of the spec")
    err = _error(Profile(architectures=[missing[0]]))
    assert err.what == "linux.seccomp.architectures[0]"
    assert err.reason == f"{missing[0]} is not supported by libseccomp {seccomp.version()}"


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="picks a big-endian arch for x86")
def test_architecture_of_the_other_byte_order():
    err = _error(Profile(architectures=["SCMP_ARCH_X86", "SCMP_ARCH_S390X"]))
    assert err.what == "linux.seccomp.architectures[1]"
    assert "byte order" in err.reason


@pytest.mark.parametrize("flag", sorted(SPEC_FLAGS))
def test_flag_supported_or_refused_by_name(flag):
    profile = Profile(flags=[flag])
    if flag in seccomp.supported_flags():
        seccomp.compile(profile).release()
    else:
        err = _error(profile)
        assert err.what == "linux.seccomp.flags[0]"
        assert flag in err.reason


def test_native_and_duplicate_architectures_are_fine():
    seccomp.compile(Profile(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                           "SCMP_ARCH_X32", "SCMP_ARCH_X86"])).release()


def test_unknown_syscall_names_are_skipped_and_listed():
    with seccomp.compile(deny("mkdir", "no_such_syscall", "rmdir", "nor_this")) as filt:
        assert filt.skipped == ["no_such_syscall", "nor_this"]
        assert not filt.uses_notify


def test_rule_with_the_default_action_is_skipped():
    # libseccomp refuses these (EACCES); runc skips them, and so must we.
    profile = Profile(default_action="SCMP_ACT_ERRNO", syscalls=[
        Rule(["mkdir"], "SCMP_ACT_ERRNO"),                  # EPERM, as the default
        Rule(["rmdir"], "SCMP_ACT_ERRNO", errno_ret=1),      # EPERM spelt out
        Rule(["getpid"], "SCMP_ACT_ALLOW"),
    ])
    seccomp.compile(profile).release()
    seccomp.compile(Profile(default_action="SCMP_ACT_KILL", syscalls=[
        Rule(["mkdir"], "SCMP_ACT_KILL_THREAD")])).release()


def test_a_different_errno_is_not_the_default_action():
    profile = Profile(default_action="SCMP_ACT_ERRNO", default_errno_ret=38,
                      syscalls=[Rule(["mkdir"], "SCMP_ACT_ERRNO")])
    seccomp.compile(profile).release()


def test_notify_marks_the_filter():
    with seccomp.compile(Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_NOTIFY")])) as filt:
        assert filt.uses_notify


def test_every_action_and_operator_compiles():
    rules = [Rule([name], action) for name, action in zip(
        ["mkdir", "rmdir", "chdir", "fchdir", "getcwd", "link", "unlink", "rename"],
        [a for a in seccomp.supported_actions() if a != "SCMP_ACT_ALLOW"], strict=False)]
    rules += [Rule(["personality"], "SCMP_ACT_ERRNO", args=[Arg(0, 5, op, 4)])
              for op in seccomp.OPERATORS]
    seccomp.compile(Profile(syscalls=rules)).release()


def test_released_filter_cannot_load():
    filt = seccomp.compile(deny("mkdir"))
    filt.release()
    filt.release()
    with pytest.raises(SeccompError, match="released"):
        filt.load()


def test_split_conditions():
    a0, a1, a0b = Arg(0, 1, "SCMP_CMP_EQ"), Arg(1, 2, "SCMP_CMP_EQ"), Arg(0, 3, "SCMP_CMP_EQ")
    assert seccomp.split_conditions([]) == [[]]
    assert seccomp.split_conditions([a0, a1]) == [[a0, a1]]
    # the same argument twice: one rule per comparison, every comparison (as runc)
    assert seccomp.split_conditions([a0, a1, a0b]) == [[a0], [a1], [a0b]]


def test_docker_default_profile_compiles():
    profile = docker_default()
    assert len(profile.syscalls) > 10
    assert sum(len(rule.names) for rule in profile.syscalls) > 300
    with seccomp.compile(profile) as filt:
        assert not filt.uses_notify
        assert len(filt.skipped) < 40  # syscalls newer than this libseccomp


# --- listenerPath ---------------------------------------------------------------------------

STATE = {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 4422,
         "bundle": "/containers/redis", "annotations": {"myKey": "myValue"}}


def _listen(tmp_path):
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    return server, path


def _receive(server) -> tuple[dict, list[int]]:
    conn, _ = server.accept()
    with conn:
        data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
        while chunk := conn.recv(65536):  # the sender closes after one state
            data += chunk
    return json.loads(data), fds


def test_send_listener_state(tmp_path):
    server, path = _listen(tmp_path)
    r, w = os.pipe()
    try:
        seccomp.send_listener_state(path, w, STATE, "MKNOD=/dev/null")
        message, fds = _receive(server)
        assert message == {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": 4422,
                           "metadata": "MKNOD=/dev/null", "state": STATE}
        assert len(fds) == 1
        os.write(fds[0], b"through the passed fd")  # the agent got a working copy
        os.close(fds[0])
        assert os.read(r, 100) == b"through the passed fd"
    finally:
        server.close()
        os.close(r)
        os.close(w)


def test_send_listener_state_without_metadata(tmp_path):
    server, path = _listen(tmp_path)
    r, w = os.pipe()
    try:
        seccomp.send_listener_state(path, w, STATE, "")
        message, fds = _receive(server)
        assert "metadata" not in message  # omitempty, as runtime-spec's Go types
        for fd in fds:
            os.close(fd)
    finally:
        server.close()
        os.close(r)
        os.close(w)


def test_send_listener_state_without_agent(tmp_path):
    with pytest.raises(SeccompError) as caught:
        seccomp.send_listener_state(str(tmp_path / "nobody"), 0, STATE, "")
    assert caught.value.what == "linux.seccomp.listenerPath"
    assert "No such file or directory" in caught.value.reason


@pytest.mark.parametrize(("flags", "notify", "expected"), [
    ([], False, 0),
    (["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], False, 2 | 4),
    ([], True, 8),  # NEW_LISTENER
    (["SECCOMP_FILTER_FLAG_TSYNC"], False, 1 | 16),  # TSYNC_ESRCH with it, as libseccomp
    (["SECCOMP_FILTER_FLAG_TSYNC"], True, 1 | 8 | 16),
    (["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], True, 32 | 8),
])
def test_kernel_flags_are_what_libseccomp_would_pass(flags, notify, expected):
    assert seccomp.kernel_flags(flags, notify) == expected

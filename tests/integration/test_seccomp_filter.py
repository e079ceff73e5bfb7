"""Seccomp filters loaded for real, as root: each case forks a child that loads the filter,
tries system calls, reports over a pipe and exits; the parent asserts. Nothing is ever
loaded into the test process itself."""

import errno
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
import time

import pytest

from pyrun.linux import seccomp
from pyrun.linux import syscalls as sc
from tests.seccomp_profiles import Arg, Profile, Rule, deny, docker_default

# What Python needs to finish a test body and report: memory, the pipe write, exit.
PYTHON_NEEDS = ["brk", "mmap", "munmap", "mremap", "madvise", "futex", "rt_sigreturn",
                "rt_sigprocmask", "rt_sigaction", "write", "close", "exit_group", "exit"]


def run_filtered(profile, body, *, before=None) -> tuple[int, object]:
    """Fork; the child runs before(), loads `profile`'s filter, runs body() and writes its
    JSON-able result (or the exception) to a pipe. Returns (wait status, result)."""
    filt = seccomp.compile(profile)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(r)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS would dump core
            if before:
                before()
            filt.load()
            result = body()
            status = 0
        except BaseException as e:
            result = {"error": f"{type(e).__name__}: {e}"}
        finally:
            try:
                os.write(w, json.dumps(result).encode())
            finally:
                os._exit(status)
    filt.release()
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    return status, (json.loads(data) if data else None)


def result_of(profile, body, **kw):
    status, result = run_filtered(profile, body, **kw)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, result)
    return result


def errno_of(call, *args, **kw) -> int:
    """0 if call(*args, **kw) succeeds, else its errno."""
    try:
        call(*args, **kw)
    except OSError as e:
        return e.errno
    return 0


def status_fields() -> dict:
    with open("/proc/self/status") as f:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return {k: fields[k] for k in ("Seccomp", "Seccomp_filters", "NoNewPrivs")}


def test_denied_mkdir_fails_with_eperm_and_the_rest_works(tmp_path):
    def body():
        return {"mkdir": errno_of(os.mkdir, tmp_path / "d"),
                "getpid": os.getpid() > 0,
                "write": errno_of(lambda: (tmp_path / "f").write_text("x")),
                "status": status_fields()}

    got = result_of(deny("mkdir"), body)
    assert got["mkdir"] == errno.EPERM
    assert got["getpid"] and got["write"] == 0
    # mode 2 (filter), one filter; no_new_privs left to the container's config
    assert got["status"] == {"Seccomp": "2", "Seccomp_filters": "1", "NoNewPrivs": "0"}
    assert not (tmp_path / "d").exists() and (tmp_path / "f").read_text() == "x"


def test_errno_ret_of_a_rule(tmp_path):
    got = result_of(deny("mkdir", errno_ret=errno.EROFS),
                    lambda: errno_of(os.mkdir, tmp_path / "d"))
    assert got == errno.EROFS


@pytest.mark.parametrize(("default_errno_ret", "expected"), [(None, errno.EPERM), (38, 38)])
def test_default_errno_ret_with_an_allow_list(tmp_path, default_errno_ret, expected):
    profile = Profile("SCMP_ACT_ERRNO", default_errno_ret,
                      syscalls=[Rule(PYTHON_NEEDS + ["getpid"], "SCMP_ACT_ALLOW")])
    got = result_of(profile, lambda: [errno_of(os.mkdir, tmp_path / "d"), os.getpid()])
    assert got[0] == expected
    assert got[1] > 0


def test_unknown_syscall_name_is_skipped(tmp_path):
    got = result_of(deny("no_such_syscall", "mkdir"),
                    lambda: errno_of(os.mkdir, tmp_path / "d"))
    assert got == errno.EPERM


# --- argument comparisons: personality(2) takes any value, and returns the previous one ------

QUERY = 0xFFFFFFFF  # personality(0xffffffff) only reads the persona
DENIED = 77  # an errno personality(2) never returns by itself


def personality_errnos(values):
    return {str(v): errno_of(sc.personality, v) for v in values}


def deny_personality(*args: Arg) -> Profile:
    return Profile(syscalls=[Rule(["personality"], "SCMP_ACT_ERRNO", DENIED, list(args))])


@pytest.mark.parametrize(("op", "denied"), [
    ("SCMP_CMP_NE", {4, 6}),
    ("SCMP_CMP_LT", {4}),
    ("SCMP_CMP_LE", {4, 5}),
    ("SCMP_CMP_EQ", {5}),
    ("SCMP_CMP_GE", {5, 6}),
    ("SCMP_CMP_GT", {6}),
])
def test_operator_at_its_boundary(op, denied):
    got = result_of(deny_personality(Arg(0, 5, op)), lambda: personality_errnos([4, 5, 6]))
    assert got == {str(v): DENIED if v in denied else 0 for v in (4, 5, 6)}


def test_masked_eq():
    # (arg & 0xf0) == 0x10
    values = [0x00, 0x10, 0x1F, 0x20, 0x110]
    got = result_of(deny_personality(Arg(0, 0xF0, "SCMP_CMP_MASKED_EQ", 0x10)),
                    lambda: personality_errnos(values))
    assert got == {"0": 0, "16": DENIED, "31": DENIED, "32": 0, "272": DENIED}


def test_personality_allowed_for_one_value_only():
    profile = Profile("SCMP_ACT_ERRNO", DENIED, syscalls=[
        Rule(PYTHON_NEEDS, "SCMP_ACT_ALLOW"),
        Rule(["personality"], "SCMP_ACT_ALLOW", args=[Arg(0, QUERY, "SCMP_CMP_EQ")]),
    ])
    got = result_of(profile, lambda: personality_errnos([QUERY, 0, 8]))
    assert got == {str(QUERY): 0, "0": DENIED, "8": DENIED}


def test_two_comparisons_of_one_argument_are_separate_rules():
    # runc's rule: same index twice -> one rule per comparison, so either one matches
    got = result_of(deny_personality(Arg(0, 3, "SCMP_CMP_EQ"), Arg(0, 5, "SCMP_CMP_EQ")),
                    lambda: personality_errnos([3, 4, 5]))
    assert got == {"3": DENIED, "4": 0, "5": DENIED}


def test_two_arguments_on_one_rule_must_both_match(tmp_path):
    # mkdirat(dirfd, path, mode): denied only for this dirfd AND mode 0o700
    base = tmp_path / "dirs"
    base.mkdir()
    dirfd = os.open(base, os.O_PATH | os.O_DIRECTORY)
    other = os.open(base, os.O_PATH | os.O_DIRECTORY)
    try:
        profile = Profile(syscalls=[Rule(["mkdirat"], "SCMP_ACT_ERRNO", DENIED, [
            Arg(0, dirfd, "SCMP_CMP_EQ"), Arg(2, 0o700, "SCMP_CMP_EQ")])])
        got = result_of(profile, lambda: [
            errno_of(os.mkdir, "a", 0o700, dir_fd=dirfd),
            errno_of(os.mkdir, "b", 0o755, dir_fd=dirfd),
            errno_of(os.mkdir, "c", 0o700, dir_fd=other),
        ])
    finally:
        os.close(dirfd)
        os.close(other)
    assert got == [DENIED, 0, 0]
    assert sorted(p.name for p in base.iterdir()) == ["b", "c"]


# --- actions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_killed_by_sigsys(tmp_path, action):
    # TRAP without a handler: SIGSYS's default action kills, as the KILL actions do
    status, result = run_filtered(Profile(syscalls=[Rule(["mkdir"], action)]),
                                  lambda: os.mkdir(tmp_path / "d"))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS, (status, result)
    assert result is None and not (tmp_path / "d").exists()


def test_trap_with_a_handler_skips_the_call(tmp_path):
    caught = []

    def body():
        os.mkdir(tmp_path / "d")  # the kernel leaves the return value to the handler
        return caught

    got = result_of(Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_TRAP")]), body,
                    before=lambda: signal.signal(signal.SIGSYS, lambda s, _: caught.append(s)))
    assert got == [signal.SIGSYS]
    assert not (tmp_path / "d").exists()


def test_log_allows(tmp_path):
    got = result_of(Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_LOG")]),
                    lambda: errno_of(os.mkdir, tmp_path / "d"))
    assert got == 0 and (tmp_path / "d").is_dir()


@pytest.mark.parametrize("errno_ret", [None, errno.EROFS])
def test_trace_without_a_tracer_is_enosys(tmp_path, errno_ret):
    # seccomp(2): with no tracer, SECCOMP_RET_TRACE fails the call with ENOSYS; the 16 data
    # bits (errnoRet) are for the tracer only.
    got = result_of(Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_TRACE", errno_ret)]),
                    lambda: errno_of(os.mkdir, tmp_path / "d"))
    assert got == errno.ENOSYS


@pytest.mark.parametrize("flag", seccomp.FLAGS)
def test_flags_load(tmp_path, flag):
    if flag not in seccomp.supported_flags():
        with pytest.raises(seccomp.SeccompError, match=r"flags\[0\]"):
            seccomp.compile(Profile(flags=[flag]))
        return
    profile = deny("mkdir")
    profile.flags = [flag]
    assert result_of(profile, lambda: errno_of(os.mkdir, tmp_path / "d")) == errno.EPERM


def test_extra_architectures_load(tmp_path):
    native = {"x86_64": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"], "aarch64": ["SCMP_ARCH_ARM"]}
    profile = deny("mkdir")
    profile.architectures = native.get(os.uname().machine, [])
    assert result_of(profile, lambda: errno_of(os.mkdir, tmp_path / "d")) == errno.EPERM


# --- SCMP_ACT_NOTIFY: the parent plays the seccomp agent -------------------------------------

# include/uapi/linux/seccomp.h: struct seccomp_notif (id, pid, flags, seccomp_data{nr, arch,
# instruction_pointer, args[6]}) and struct seccomp_notif_resp (id, val, error, flags).
NOTIF = struct.Struct("=QIIiIQ6Q")
NOTIF_RESP = struct.Struct("=QqiI")


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


SECCOMP_IOCTL_NOTIF_RECV = _iowr(0, NOTIF.size)
SECCOMP_IOCTL_NOTIF_SEND = _iowr(1, NOTIF_RESP.size)


def answer(notify_fd: int, error: int) -> dict:
    """Receive one notification and fail that call with `error`; returns what was seen."""
    poll = select.poll()
    poll.register(notify_fd, select.POLLIN)
    assert poll.poll(10_000), "no notification within 10 s"
    buf = bytearray(NOTIF.size)  # RECV wants it zeroed
    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, buf)
    req_id, pid, _flags, nr, _arch, _ip, *args = NOTIF.unpack(buf)
    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND,
                bytearray(NOTIF_RESP.pack(req_id, 0, -error, 0)))
    return {"pid": pid, "nr": nr, "args": args}


def mkdir_nr() -> int:
    return seccomp.preload().seccomp_syscall_resolve_name(b"mkdir")


def _notified_child(profile, tmp_path, hand_over):
    """Fork a child that loads `profile`, passes its notify fd on with hand_over(fd), then
    calls mkdir(d, 0o711). Returns (pid, read end of the pipe it reports on)."""
    filt = seccomp.compile(profile)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(r)
            fd = filt.load()
            hand_over(fd)
            os.close(fd)
            os.write(w, str(errno_of(os.mkdir, tmp_path / "d", 0o711)).encode())
            status = 0
        finally:
            os._exit(status)
    filt.release()
    os.close(w)
    return pid, r


def _report(pid: int, r: int) -> int:
    with os.fdopen(r, "rb") as f:
        got = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return int(got)


def test_notify_over_a_socketpair(tmp_path):
    parent, child = socket.socketpair()
    profile = Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_NOTIFY")])
    pid, r = _notified_child(profile, tmp_path, lambda fd: socket.send_fds(child, [b"fd"], [fd]))
    try:
        child.close()
        _, fds, _, _ = socket.recv_fds(parent, 16, 1)
        seen = answer(fds[0], errno.EXDEV)
        os.close(fds[0])
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        parent.close()
        got = _report(pid, r)
    assert seen["pid"] == pid and seen["nr"] == mkdir_nr() and seen["args"][1] == 0o711
    assert got == errno.EXDEV
    assert not (tmp_path / "d").exists()


def test_notify_through_the_listener_path(tmp_path):
    path = str(tmp_path / "agent.sock")
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    agent.bind(path)
    agent.listen(1)
    profile = Profile(syscalls=[Rule(["mkdir"], "SCMP_ACT_NOTIFY")], listener_path=path,
                      listener_metadata="agent=test")
    state = {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 0,
             "bundle": str(tmp_path)}

    def hand_over(fd):
        seccomp.send_listener_state(path, fd, {**state, "pid": os.getpid()},
                                    profile.listener_metadata)

    pid, r = _notified_child(profile, tmp_path, hand_over)
    try:
        conn, _ = agent.accept()
        with conn:
            data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
        message = json.loads(data)
        seen = answer(fds[0], errno.EACCES)
        os.close(fds[0])
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        agent.close()
        got = _report(pid, r)
    assert message["fds"] == ["seccompFd"] and message["pid"] == pid
    assert message["metadata"] == "agent=test"
    assert message["state"] == {**state, "pid": pid}
    assert seen["pid"] == pid and seen["nr"] == mkdir_nr()
    assert got == errno.EACCES


# --- a real-world profile --------------------------------------------------------------------

def test_docker_default_profile():
    def body():
        start = time.perf_counter()
        return {
            "getpid": os.getpid() > 0,
            "query": errno_of(sc.personality, QUERY),        # allowed by value
            "persona": errno_of(sc.personality, 0x1234),     # any other value: EPERM
            "umount": errno_of(sc.umount2, "/nonexistent"),  # needs CAP_SYS_ADMIN: EPERM
            "unshare": errno_of(sc.unshare, sc.CLONE_NEWUTS),
            "fork": _fork_works(),
            "ms": (time.perf_counter() - start) * 1000,
        }

    got = result_of(docker_default(), body)
    assert got["getpid"] and got["query"] == 0 and got["fork"]
    assert got["persona"] == got["umount"] == got["unshare"] == errno.EPERM


def _fork_works() -> bool:
    pid = os.fork()  # clone(2) without namespace flags: allowed by a MASKED_EQ rule
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7

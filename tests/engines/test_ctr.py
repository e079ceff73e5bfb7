"""containerd 1.6 through ctr, with the runc shim v2 running pyrun (BinaryName, from
`ctr run --runc-binary`). Effects are checked from outside: /proc, the cgroup files, the
host side of a bind mount, pyrun's state directory (`--runc-root`)."""

import os
import time

import pytest

from tests.engines import host
from tests.engines.conftest import ENGINE_TEST_TIMEOUT
from tests.engines.terminal import PtySession

pytestmark = [pytest.mark.engines, pytest.mark.timeout(ENGINE_TEST_TIMEOUT)]

SLEEPER = ("sleep", "300")
# The engine sets the terminal's size just after the container has started (resize after
# start): give it up to 5 s to arrive before printing it.
TTY_SIZE = ('for i in $(seq 50); do s=$(stty size 2>/dev/null); [ "${s% *}" != 0 ] && '
            '[ -n "$s" ] && break; sleep 0.1; done; echo "size=$s"')


def wait_for_file(path, text, timeout=20) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        try:
            out = path.read_text()
        except FileNotFoundError:
            out = ""
        if text in out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path} after {timeout}s: {out!r}")


def test_run_prints_output(ctr):
    _cid, r = ctr.run(rm=True, cmd=("echo", "hello from busybox"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from busybox\n"


def test_exit_code(ctr):
    _cid, r = ctr.run(rm=True, cmd=("sh", "-c", "exit 3"))
    assert r.returncode == 3, r.stderr


def test_rm_removes_everything(ctr):
    cid, r = ctr.run(rm=True, cmd=("true",))
    assert r.returncode == 0, r.stderr
    assert cid not in ctr.ctr("container", "ls", "-q").stdout.split()
    assert not (ctr.engine.pyrun_root / cid).exists()
    assert not host.cgroups_named([cid])


def test_detached_task_and_exec(ctr):
    cid, _ = ctr.run_ok(detach=True, cmd=SLEEPER)
    pid = ctr.pid(cid)
    assert host.cmdline_of(pid) == list(SLEEPER)
    assert ctr.status(cid) == "RUNNING"
    assert (ctr.engine.pyrun_root / cid / "state.json").exists()
    r = ctr.ctr("task", "exec", "--exec-id", "e1", "--fifo-dir", ctr.engine.fifo_dir, cid,
                "sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [os.readlink(f"/proc/{pid}/ns/pid"),
                                os.readlink(f"/proc/{pid}/ns/mnt")]
    r = ctr.ctr("task", "exec", "--exec-id", "e2", "--fifo-dir", ctr.engine.fifo_dir, cid,
                "sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr


def test_task_ps(ctr):
    cid, _ = ctr.run_ok(detach=True, cmd=("sh", "-c", "sleep 301 & sleep 302 & wait"))
    pid = ctr.pid(cid)
    deadline = time.monotonic() + 10
    while len(host.descendants_of(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    r = ctr.ctr("task", "ps", cid)
    assert r.returncode == 0, r.stderr
    listed = {int(line.split()[0]) for line in r.stdout.splitlines()[1:] if line.split()}
    assert listed == {pid, *host.descendants_of(pid)}


def test_task_kill_sigterm_trap(ctr, tmp_path):
    log = tmp_path / "out.log"
    cid, _ = ctr.run_ok("--log-uri", f"file://{log}", detach=True,
                        cmd=("sh", "-c", 'trap "echo got-TERM; exit 42" TERM; echo ready; '
                             "while :; do sleep 0.1; done"))
    wait_for_file(log, "ready")
    pid = ctr.pid(cid)
    r = ctr.ctr("task", "kill", cid)  # SIGTERM
    assert r.returncode == 0, r.stderr
    ctr.wait_status(cid, "STOPPED")
    assert host.wait_gone(pid, 10)
    wait_for_file(log, "got-TERM")
    r = ctr.ctr("task", "delete", cid)
    assert r.returncode == 0, r.stderr
    assert "exit code 42" in r.stdout + r.stderr, r.stdout + r.stderr


def test_task_kill_sigkill(ctr):
    cid, _ = ctr.run_ok(detach=True, cmd=SLEEPER)
    pid = ctr.pid(cid)
    r = ctr.ctr("task", "kill", "-s", "SIGKILL", cid)
    assert r.returncode == 0, r.stderr
    ctr.wait_status(cid, "STOPPED")
    assert host.wait_gone(pid, 10)
    r = ctr.ctr("task", "delete", cid)
    assert r.returncode == 0, r.stderr
    assert "exit code 137" in r.stdout + r.stderr, r.stdout + r.stderr
    assert not (ctr.engine.pyrun_root / cid).exists()


def test_pause_resume(ctr):
    cid, _ = ctr.run_ok(detach=True, cmd=SLEEPER)
    pid = ctr.pid(cid)
    r = ctr.ctr("task", "pause", cid)
    assert r.returncode == 0, r.stderr
    assert ctr.status(cid) == "PAUSED"
    assert host.freezer_state(pid) in ("FROZEN", "1")
    r = ctr.ctr("task", "resume", cid)
    assert r.returncode == 0, r.stderr
    assert ctr.status(cid) == "RUNNING"
    assert host.freezer_state(pid) in ("THAWED", "0")


def test_interactive_tty(ctr):
    cid = ctr.new_id()
    argv = [*ctr.engine.ctr_command(), *ctr.engine.run_args(cid, "-t", rm=True),
            "sh", "-c", 'echo READY; read line; echo "got:$line"; tty; '
            '[ -t 0 ] && echo ISATTY; ' + TTY_SIZE + '; exit 5']
    session = PtySession(argv, rows=30, cols=100, cwd=str(ctr.engine.base))
    try:
        session.read_until("READY", timeout=60)
        session.type("hello\r")
        status = session.wait(timeout=60)
    finally:
        session.close()
    screen = session.transcript
    assert "got:hello" in screen, screen
    assert "/dev/pts/" in screen and "ISATTY" in screen, screen
    assert "size=30 100" in screen, f"the terminal's size did not reach the container: {screen}"
    assert status == 5, screen


def test_env(ctr):
    _cid, r = ctr.run("--env", "FOO=bar baz", rm=True, cmd=("sh", "-c", 'echo "FOO=$FOO"'))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "FOO=bar baz\n"


def test_cwd(ctr):
    cid, _ = ctr.run_ok("--cwd", "/tmp", detach=True, cmd=SLEEPER)
    pid = ctr.pid(cid)
    assert os.path.samestat(os.stat(f"/proc/{pid}/cwd"), os.stat(f"/proc/{pid}/root/tmp"))


def test_read_only_rootfs(ctr):
    cid, _ = ctr.run_ok("--read-only", detach=True, cmd=SLEEPER)
    pid = ctr.pid(cid)
    root = [opts for _, point, opts, _ in host.mountinfo(pid) if point == "/"]
    assert root and "ro" in root[-1].split(","), f"/ is mounted {root}"
    r = ctr.ctr("task", "exec", "--exec-id", "t", "--fifo-dir", ctr.engine.fifo_dir, cid,
                "touch", "/x")
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr + r.stdout


def test_bind_mount_write_shows_on_host(ctr, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "from-host").write_text("host says hi\n")
    _cid, r = ctr.run("--mount", f"type=bind,src={vol},dst=/data,options=rbind:rw", rm=True,
                     cmd=("sh", "-c", "cat /data/from-host; echo written-inside > /data/out"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "host says hi\n"
    assert (vol / "out").read_text() == "written-inside\n"


def test_memory_limit_visible(ctr):
    cid, _ = ctr.run_ok("--memory-limit", "33554432", detach=True, cmd=SLEEPER)
    assert host.memory_limit_file(ctr.pid(cid)).read_text().strip() == "33554432"


def test_memory_limit_enforced(ctr, tmp_path):
    # tail keeps the last "line" of /dev/zero, which never ends: it grows until killed.
    # First as a child of the container's shell, so that the cgroup (and its OOM count)
    # is still there to be read from the host afterwards.
    log = tmp_path / "out.log"
    cid, _ = ctr.run_ok("--memory-limit", "33554432", "--log-uri", f"file://{log}",
                        detach=True,
                        cmd=("sh", "-c", "tail /dev/zero; echo tail-exit=$?; exec sleep 300"))
    assert "tail-exit=137" in wait_for_file(log, "tail-exit=", timeout=60)
    assert host.oom_kills(ctr.pid(cid)) >= 1
    # then as the container's process: ctr exits with its status, 137
    _cid, r = ctr.run("--memory-limit", "33554432", rm=True, cmd=("tail", "/dev/zero"),
                      timeout=90)
    assert r.returncode == 137, f"exit {r.returncode}: {r.stderr}"

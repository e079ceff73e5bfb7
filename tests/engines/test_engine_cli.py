"""Docker 20.10 and podman 4.3 with pyrun as their runtime: the same scenarios through the
same command line (`cli` is parametrized over both). Each test checks the effect from
outside where it can: /proc of the container's process, the cgroup files on the host, the
host side of a bind volume, pyrun's own state directory."""

import json
import os
import time

import pytest

from tests.engines import host
from tests.engines.conftest import ENGINE_TEST_TIMEOUT
from tests.engines.engines import PYRUN
from tests.engines.terminal import PtySession

pytestmark = [pytest.mark.engines, pytest.mark.timeout(ENGINE_TEST_TIMEOUT)]

SLEEPER = ("sleep", "300")
# The engine sets the terminal's size just after the container has started (resize after
# start): give it up to 5 s to arrive before printing it.
TTY_SIZE = ('for i in $(seq 50); do s=$(stty size 2>/dev/null); [ "${s% *}" != 0 ] && '
            '[ -n "$s" ] && break; sleep 0.1; done; echo "size=$s"')
# A shell that says when it is ready, exits 42 on SIGTERM (sh as PID 1 has no default
# action for it), and polls so that the trap runs at once.
TRAPPER = ("sh", "-c", 'trap "echo got-TERM; exit 42" TERM; echo ready; '
           "while :; do sleep 0.1; done")


def wait_for_log(cli, name, text, timeout=20) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        r = cli.cli("logs", name)
        out = r.stdout + r.stderr
        if text in out:
            return out
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the logs of {name} after {timeout}s: {out!r}")


def pyrun_state(cli, name) -> dict:
    """pyrun's own state of the container, read with pyrun from the engine's --root."""
    r = host.run([PYRUN, "--root", str(cli.engine.pyrun_root), "state", cli.cid(name)])
    assert r.returncode == 0, f"pyrun state: {r.stderr}"
    return json.loads(r.stdout)


# -- run, exit code, --rm -------------------------------------------------------------------

def test_run_prints_output(cli):
    _name, r = cli.run("--rm", cmd=("echo", "hello from busybox"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from busybox\n"


def test_exit_code(cli):
    name, r = cli.run(cmd=("sh", "-c", "exit 3"))
    assert r.returncode == 3, r.stderr
    assert cli.inspect(name, "{{.State.ExitCode}}") == "3"


def test_rm_removes_everything(cli):
    name, r = cli.run("--rm", cmd=("true",))
    assert r.returncode == 0, r.stderr
    cid = cli.cid(name)
    assert cid, "no container id in the cidfile"
    # the engine forgets it, pyrun's state and the cgroup are gone
    deadline = time.monotonic() + 10
    while cli.cli("inspect", name).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cli.cli("inspect", name).returncode != 0, f"{name} still exists after --rm"
    assert cid not in cli.pyrun_state_dirs()
    assert not host.cgroups_named([cid])


# -- detached: exec, top, stop, kill, rm, logs --------------------------------------------

def test_detached_runs_in_background(cli):
    name, _r = cli.run_ok(detach=True, cmd=SLEEPER)
    pid = cli.pid(name)
    assert pid > 0 and not host.is_gone(pid)
    assert host.cmdline_of(pid) == list(SLEEPER)
    # pyrun's word agrees with the process tree
    state = pyrun_state(cli, name)
    assert state["status"] == "running" and state["pid"] == pid


def test_exec_joins_the_container(cli):
    name, _ = cli.run_ok(detach=True, cmd=SLEEPER)
    pid = cli.pid(name)
    r = cli.cli("exec", name, "sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; "
                "cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0, r.stderr
    pidns, mntns, init = r.stdout.splitlines()
    assert pidns == os.readlink(f"/proc/{pid}/ns/pid")
    assert mntns == os.readlink(f"/proc/{pid}/ns/mnt")
    assert init.strip() == " ".join(SLEEPER)
    r = cli.cli("exec", name, "sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr


def test_top_lists_the_processes(cli):
    name, _ = cli.run_ok(detach=True, cmd=("sh", "-c", "sleep 301 & sleep 302 & wait"))
    pid = cli.pid(name)
    deadline = time.monotonic() + 10
    while len(host.descendants_of(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    r = cli.cli("top", name)
    assert r.returncode == 0, r.stderr
    assert "sleep 301" in r.stdout and "sleep 302" in r.stdout, r.stdout
    if cli.name == "docker":  # docker top shows host pids (from `pyrun ps`)
        kids = host.descendants_of(pid)
        for p in [pid, *kids]:
            assert any(str(p) in line.split() for line in r.stdout.splitlines()), \
                (p, r.stdout)


def test_stop_sends_sigterm_to_a_trap(cli):
    name, _ = cli.run_ok(detach=True, cmd=TRAPPER)
    wait_for_log(cli, name, "ready")
    pid = cli.pid(name)
    t0 = time.monotonic()
    r = cli.cli("stop", "-t", "30", name, timeout=60)
    assert r.returncode == 0, r.stderr
    # the trap ran (exit 42, its output) well before the 30 s grace period ended in SIGKILL
    assert time.monotonic() - t0 < 20
    assert cli.inspect(name, "{{.State.ExitCode}}") == "42"
    assert "got-TERM" in wait_for_log(cli, name, "got-TERM")
    assert host.wait_gone(pid, 10)


def test_kill(cli):
    name, _ = cli.run_ok(detach=True, cmd=SLEEPER)
    pid = cli.pid(name)
    r = cli.cli("kill", name)
    assert r.returncode == 0, r.stderr
    assert host.wait_gone(pid, 10), "the container's process survived kill"
    cli.wait_status(name, "exited")
    assert cli.inspect(name, "{{.State.ExitCode}}") == "137"


def test_kill_with_signal(cli):
    name, _ = cli.run_ok(detach=True, cmd=("sh", "-c", 'trap "echo got-USR1; exit 9" USR1; '
                                           "echo ready; while :; do sleep 0.1; done"))
    wait_for_log(cli, name, "ready")
    r = cli.cli("kill", "-s", "USR1", name)
    assert r.returncode == 0, r.stderr
    cli.wait_status(name, "exited")
    assert cli.inspect(name, "{{.State.ExitCode}}") == "9"
    assert "got-USR1" in wait_for_log(cli, name, "got-USR1")


def test_rm_force_of_a_running_container(cli):
    name, _ = cli.run_ok(detach=True, cmd=SLEEPER)
    pid = cli.pid(name)
    cid = cli.cid(name)
    cgroup = host.cgroup_of(pid, "pids")
    assert cgroup.is_dir()
    r = cli.cli("rm", "-f", name)
    assert r.returncode == 0, r.stderr
    assert host.wait_gone(pid, 10)
    assert cli.cli("inspect", name).returncode != 0
    assert cid not in cli.pyrun_state_dirs()
    deadline = time.monotonic() + 5
    while cgroup.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not cgroup.exists(), f"{cgroup} left"


def test_logs(cli):
    name, _ = cli.run_ok(detach=True, cmd=("sh", "-c", "echo to-stdout; echo to-stderr >&2"))
    cli.wait_status(name, "exited")
    r = cli.cli("logs", name)
    assert r.returncode == 0, r.stderr
    assert "to-stdout" in r.stdout
    assert "to-stderr" in r.stdout + r.stderr


# -- a terminal -----------------------------------------------------------------------------

def test_interactive_tty(cli):
    name = cli.new_name()
    argv = [*cli.engine.command(), *cli.engine.run_args(name, "-i", "-t"), cli.image,
            "sh", "-c", 'echo READY; read line; echo "got:$line"; tty; '
            '[ -t 0 ] && echo ISATTY; ' + TTY_SIZE + '; exit 5']
    session = PtySession(argv, env=cli.engine.env(), rows=30, cols=100,
                         cwd=str(cli.engine.base))
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


# -- process settings ---------------------------------------------------------------------

def test_env(cli):
    name, _ = cli.run_ok("-e", "FOO=bar baz", detach=True,
                         cmd=("sh", "-c", 'echo "FOO=$FOO"; exec sleep 300'))
    assert "FOO=bar baz" in wait_for_log(cli, name, "FOO=")
    assert "FOO=bar baz" in host.proc_environ(cli.pid(name))


def test_workdir(cli):
    # /root exists in the image: podman refuses a workdir that does not, docker makes it
    name, _ = cli.run_ok("-w", "/root", detach=True, cmd=("sh", "-c", "pwd; exec sleep 300"))
    assert "/root" in wait_for_log(cli, name, "/root")
    pid = cli.pid(name)
    # from the host: the process's cwd is the directory /root of its root filesystem
    assert os.path.samestat(os.stat(f"/proc/{pid}/cwd"), os.stat(f"/proc/{pid}/root/root"))


def test_user(cli):
    name, _ = cli.run_ok("-u", "1000", detach=True,
                         cmd=("sh", "-c", "id -u; exec sleep 300"))
    assert "1000" in wait_for_log(cli, name, "1000")
    status = host.proc_status(cli.pid(name))
    assert status["Uid"].split() == ["1000"] * 4
    assert status["Gid"].split()[0] == "0"


def test_hostname(cli):
    name, _ = cli.run_ok("--hostname", "pyrun-box", detach=True,
                         cmd=("sh", "-c", "hostname; exec sleep 300"))
    assert "pyrun-box" in wait_for_log(cli, name, "pyrun-box")
    pid = cli.pid(name)
    r = host.run(["nsenter", f"--uts=/proc/{pid}/ns/uts", "hostname"], check=True)
    assert r.stdout.strip() == "pyrun-box"
    assert os.readlink(f"/proc/{pid}/ns/uts") != os.readlink("/proc/self/ns/uts")


def test_read_only_rootfs(cli):
    name, _ = cli.run_ok("--read-only", detach=True, cmd=SLEEPER)
    pid = cli.pid(name)
    root = [opts for _, point, opts, _ in host.mountinfo(pid) if point == "/"]
    assert root and "ro" in root[-1].split(","), f"/ is mounted {root}"
    r = cli.cli("exec", name, "touch", "/x")
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr + r.stdout


def test_bind_volume_write_shows_on_host(cli, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "from-host").write_text("host says hi\n")
    _name, r = cli.run("--rm", "-v", f"{vol}:/data",
                      cmd=("sh", "-c", "cat /data/from-host; echo written-inside > /data/out"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "host says hi\n"
    assert (vol / "out").read_text() == "written-inside\n"


# -- cgroup limits --------------------------------------------------------------------------

LIMIT_INSIDE = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                "cat /sys/fs/cgroup/memory.max")


def test_memory_limit_visible(cli):
    name, _ = cli.run_ok("-m", "32m", detach=True,
                         cmd=("sh", "-c", f"echo limit=$({LIMIT_INSIDE}); exec sleep 300"))
    assert "limit=33554432" in wait_for_log(cli, name, "limit=")
    # the host's cgroup file of the container's process
    assert host.memory_limit_file(cli.pid(name)).read_text().strip() == "33554432"


def test_memory_limit_enforced(cli):
    # tail keeps the last "line" of /dev/zero, which never ends: it grows until killed.
    # First as a child of the container's shell, so that the cgroup (and its OOM count)
    # is still there to be read from the host afterwards.
    name, _ = cli.run_ok("-m", "32m", "--memory-swap", "32m", detach=True,
                         cmd=("sh", "-c", "tail /dev/zero; echo tail-exit=$?; exec sleep 300"))
    assert "tail-exit=137" in wait_for_log(cli, name, "tail-exit=", timeout=60)
    assert host.oom_kills(cli.pid(name)) >= 1
    # then as the container's process: the container's exit code is 137
    name, r = cli.run("-m", "32m", "--memory-swap", "32m", cmd=("tail", "/dev/zero"),
                      timeout=90)
    assert r.returncode == 137, f"exit {r.returncode}: {r.stderr}"
    assert cli.inspect(name, "{{.State.ExitCode}}") == "137"
    if cli.name == "docker":  # podman's OOMKilled comes from conmon, which misses it here
        assert cli.inspect(name, "{{.State.OOMKilled}}") == "true"


def test_pids_limit(cli):
    name, _ = cli.run_ok("--pids-limit", "10", detach=True, cmd=SLEEPER)
    pid = cli.pid(name)
    assert host.pids_limit_file(pid).read_text().strip() == "10"
    r = cli.cli("exec", name, "sh", "-c",
                "for i in $(seq 20); do sleep 30 & done 2>&1; echo spawned", timeout=60)
    assert "can't fork" in r.stdout + r.stderr or "Resource temporarily unavailable" in \
        r.stdout + r.stderr, r.stdout + r.stderr
    procs = (host.cgroup_of(pid, "pids") / "cgroup.procs").read_text().split()
    assert len(procs) <= 10


def test_pause_unpause(cli):
    name, _ = cli.run_ok(detach=True, cmd=("sh", "-c", "i=0; while :; do i=$((i+1)); "
                                           "echo $i > /tmp/t; sleep 0.05; done"))
    pid = cli.pid(name)
    r = cli.cli("pause", name)
    assert r.returncode == 0, r.stderr
    assert cli.inspect(name, "{{.State.Status}}") == "paused"
    assert host.freezer_state(pid) in ("FROZEN", "1")
    assert host.proc_status(pid)["State"].startswith(("D", "S"))  # frozen: not running
    r = cli.cli("unpause", name)
    assert r.returncode == 0, r.stderr
    assert cli.inspect(name, "{{.State.Status}}") == "running"
    assert host.freezer_state(pid) in ("THAWED", "0")
    # it runs again: the file it rewrites changes
    r1 = cli.cli("exec", name, "cat", "/tmp/t").stdout
    time.sleep(0.3)
    r2 = cli.cli("exec", name, "cat", "/tmp/t").stdout
    assert r1 != r2


# -- restart policy -------------------------------------------------------------------------

def test_restart_on_failure(cli):
    name, _ = cli.run_ok("--restart", "on-failure:2", detach=True,
                         cmd=("sh", "-c", "echo run; exit 3"))
    deadline = time.monotonic() + 60
    count = status = ""
    while time.monotonic() < deadline:
        count = cli.inspect(name, "{{.RestartCount}}")
        status = cli.inspect(name, "{{.State.Status}}")
        if count == "2" and status == "exited":
            break
        time.sleep(0.3)
    assert (count, status) == ("2", "exited")
    assert cli.inspect(name, "{{.State.ExitCode}}") == "3"
    assert wait_for_log(cli, name, "run").count("run") == 3


"""The escape battery: from a container with the default config (runc's template: root
inside, runc's default capabilities, no seccomp profile, noNewPrivileges), each known way
out is tried and must fail; where the host could be touched, the host is checked too.

Each attempt is one test, named after it. Some use a small static program
(escape/escape.c) for the calls busybox has no applet for.
"""

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.bundles import default_config

pytestmark = pytest.mark.vm  # and on a pure cgroup v2 kernel, whose cgroup files differ

ESCAPE_C = Path(__file__).resolve().parent / "escape" / "escape.c"


@pytest.fixture(scope="session")
def escape_program(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("escape") / "escape"
    gcc = shutil.which("gcc") or "/usr/bin/gcc"
    subprocess.run([gcc, "-static", "-O2", "-o", str(out), str(ESCAPE_C)], check=True)
    return out


def battery_config(script: str, **process) -> dict:
    """runc's template (bundles.default_config), running `script`, with a scratch /tmp and
    the cgroup mount `runc spec` has."""
    config = default_config(args=("sh", "-c", script), **process)
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                             "source": "cgroup",
                             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
    return config


@pytest.fixture
def attempt(pyrun, make_bundle, container_id, escape_program):
    """Run `script` in a default container (with /escape, the static helper); returns
    (exit status, stdout, stderr)."""

    def run(script: str, config=None, **process):
        config = config or battery_config(script, **process)
        bundle = make_bundle(config=config)
        shutil.copy(escape_program, bundle / "rootfs" / "escape")
        result = pyrun("run", "-b", bundle, container_id)
        return result.returncode, result.stdout, result.stderr

    return run


def test_remount_root_read_write(attempt):
    _, out, err = attempt("mount -o remount,rw / ; touch /new-file && echo written")
    assert "written" not in out
    assert "Permission denied" in err or "Operation not permitted" in err or \
        "Read-only file system" in err, err


def test_remount_proc_read_write(attempt):
    _, out, err = attempt("mount -o remount,rw /proc && echo remounted; "
                          "echo 1 > /proc/sys/kernel/sysrq && echo written")
    assert "remounted" not in out and "written" not in out, (out, err)


def test_write_sysrq_trigger(attempt):
    _, out, err = attempt("echo h > /proc/sysrq-trigger && echo written")
    assert "written" not in out
    if os.path.exists("/proc/sysrq-trigger"):  # a kernel without CONFIG_MAGIC_SYSRQ has none
        assert "Read-only file system" in err, err


def test_read_kcore(attempt):
    _, out, _ = attempt("head -c 16 /proc/kcore | wc -c")
    assert out.strip() == "0"  # masked: /dev/null is bound over it


def test_load_a_kernel_module(attempt):
    _, out, _ = attempt("/escape init_module")
    # EPERM: no CAP_SYS_MODULE. ENOSYS on a kernel built without modules.
    assert out.strip() in ("EPERM", "ENOSYS"), out


def test_mknod_a_disk_without_cap_mknod(attempt):
    _, out, err = attempt("mknod /tmp/disk b 7 0 && echo made")
    assert "made" not in out
    assert "Operation not permitted" in err, err


def test_open_a_disk_made_with_cap_mknod(attempt):
    caps = ["CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    _, out, err = attempt("mknod /tmp/disk b 7 0 && echo made; true < /tmp/disk && "
                          "echo opened", capabilities={k: caps for k in
                                                       ("bounding", "effective",
                                                        "permitted")})
    assert out.split() == ["made"], (out, err)


def test_see_or_signal_a_host_process(attempt):
    host_pid = os.getpid()  # this test process: certainly alive on the host
    _, out, err = attempt(f"ls /proc | grep -qx {host_pid} && echo seen; "
                          f"kill -0 {host_pid} && echo signalled; /escape ptrace {host_pid}")
    assert "seen" not in out and "signalled" not in out, (out, err)
    assert out.split()[-1] in ("ESRCH", "EPERM"), out


def test_change_the_hosts_hostname(attempt):
    before = socket.gethostname()
    _, out, err = attempt("hostname pwned && echo renamed; hostname")
    assert socket.gethostname() == before
    assert "renamed" not in out and "pyrun-test" in out, (out, err)


def test_reach_the_host_through_proc_1_root(attempt, tmp_path):
    marker = tmp_path / "host-only-marker"
    marker.write_text("secret")
    _, out, _ = attempt(f"cat /proc/1/root{marker} /proc/1/root/../../..{marker} "
                        "2>/dev/null; ls /proc/1/root/ | grep -c escape")
    assert "secret" not in out
    assert out.strip() == "1"  # /proc/1/root is the container's own root


def test_a_mount_destination_symlink_planted_in_the_rootfs(pyrun, make_bundle, container_id,
                                                           tmp_path):
    target = tmp_path / "host-target"
    target.mkdir()
    config = battery_config("true")
    config["mounts"].append({"destination": "/planted/x", "type": "tmpfs",
                             "source": "tmpfs"})
    bundle = make_bundle(config=config)
    (bundle / "rootfs" / "planted").symlink_to(f"../../../../../../../..{target}")
    pyrun("run", "-b", bundle, container_id)
    assert not (target / "x").exists(), "the mount was made on the host"
    assert str(target) not in Path("/proc/self/mountinfo").read_text()


def test_the_chroot_twice_trick(attempt, tmp_path):
    marker = tmp_path / "host-only-marker"
    marker.write_text("secret")
    _, out, _ = attempt(f"/escape chroot_twice {marker}")
    assert out.strip() == "EPERM", out  # no CAP_SYS_CHROOT


def test_the_chroot_twice_trick_with_cap_sys_chroot(attempt, tmp_path):
    """pivot_root detached the host's root: climbing out of a chroot ends at the
    container's root, not the host's."""
    marker = tmp_path / "host-only-marker"
    marker.write_text("secret")
    caps = ["CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    _, out, err = attempt(f"/escape chroot_twice {marker}",
                          capabilities={k: caps for k in ("bounding", "effective",
                                                          "permitted")})
    assert out.strip() == "contained", (out, err)


def test_open_by_handle_at(attempt):
    _, out, _ = attempt("/escape open_by_handle")
    assert out.strip() == "EPERM", out  # no CAP_DAC_READ_SEARCH


def test_a_new_user_namespace_gives_no_power_over_the_containers_mounts(attempt):
    _, out, err = attempt("unshare -Umr sh -c 'mount -o remount,rw / && touch /x && "
                          "echo escaped; hostname pwned && echo renamed; id -u'")
    assert "escaped" not in out and "renamed" not in out, (out, err)


def test_write_the_hosts_cgroup_files(attempt):
    _, out, err = attempt("for f in /sys/fs/cgroup/cgroup.procs "
                          "/sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/memory.max "
                          "/sys/fs/cgroup/*/memory.limit_in_bytes; do "
                          "[ -e $f ] && echo $$ > $f && echo wrote $f; done; echo tried")
    assert "wrote" not in out, (out, err)
    assert "tried" in out


def skip_if_nosuid(bundle: Path) -> None:
    if os.statvfs(bundle).f_flag & os.ST_NOSUID:
        pytest.skip("the bundle is on a nosuid filesystem (the v2 VM's /tmp): setuid "
                    "bits mean nothing there, with or without no_new_privs")


def test_a_setuid_binary_under_no_new_privileges(attempt, make_bundle, pyrun, container_id,
                                                 escape_program):
    config = battery_config("/suid-escape euid", user={"uid": 1000, "gid": 1000})
    bundle = make_bundle(config=config)
    skip_if_nosuid(bundle)
    suid = bundle / "rootfs" / "suid-escape"
    shutil.copy(escape_program, suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    result = pyrun("run", "-b", bundle, container_id)
    assert result.stdout.strip() == "1000", (result.stdout, result.stderr)


def test_a_setuid_binary_without_no_new_privileges(make_bundle, pyrun, container_id,
                                                   escape_program):
    """The control for the test above: the setuid bit works when no_new_privs is off."""
    config = battery_config("/suid-escape euid", user={"uid": 1000, "gid": 1000},
                            noNewPrivileges=False)
    bundle = make_bundle(config=config)
    skip_if_nosuid(bundle)
    suid = bundle / "rootfs" / "suid-escape"
    shutil.copy(escape_program, suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    result = pyrun("run", "-b", bundle, container_id)
    assert result.stdout.strip() == "0", (result.stdout, result.stderr)

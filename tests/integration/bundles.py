"""Building OCI bundles for tests: a busybox rootfs and a runc-like default config.

The config is written here by hand (not by `pyrun spec`) so that tests do not take pyrun's
own word for what a valid bundle is.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYRUN = os.environ.get("PYRUN", str(ROOT / ".venv" / "bin" / "pyrun"))


def make_rootfs(dest: Path) -> Path:
    subprocess.run(["sh", str(ROOT / "examples" / "make-rootfs.sh"), str(dest)], check=True)
    return dest


def default_config(args=("/bin/true",), **process) -> dict:
    """What `runc spec` writes (OCI defaults), minus the cgroup device rules."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    proc = {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": list(args),
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"],
        "cwd": "/",
        "capabilities": {k: list(caps) for k in
                         ("bounding", "effective", "permitted", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    }
    proc.update(process)
    return {
        "ociVersion": "1.0.2",
        "process": proc,
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyrun-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def write_bundle(path: Path, rootfs: Path, config: dict | str) -> Path:
    """A bundle directory whose rootfs is a copy-free bind of a shared busybox tree."""
    path.mkdir(parents=True, exist_ok=True)
    target = path / "rootfs"
    if not target.exists():
        # A per-bundle copy keeps tests from seeing each other's writes (it is small: ~2 MB).
        shutil.copytree(rootfs, target, symlinks=True)
    text = config if isinstance(config, str) else json.dumps(config, indent=2)
    (path / "config.json").write_text(text)
    return path

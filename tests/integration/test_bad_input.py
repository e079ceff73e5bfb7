"""Malformed bundles, configs and command lines.

Every case must be refused the same way (DESIGN.md section 5): exit status 1, stderr exactly one
line `pyrun: <command> <id>: <what failed>: <reason>` naming the problem, no traceback, and nothing
left behind: no state entry, no cgroup, no mount (the autouse `nothing_left_behind` fixture) and no
process carrying the container's marker (its id in argv or environ, or its hostname).

The corpus is a table of `Case`s; the cases that need extra steps (an existing id, a signal for a
live container, a mount through a symlink) are separate tests below it. Last come two inputs that
look wrong but that the runtime spec says to accept (as runc does): a relative mount destination
and an unknown capability name. Run against runc with `PYRUN=runc` to compare.
"""

import itertools
import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.bundles import PYRUN, default_config

pytestmark = pytest.mark.timeout(60)

MARKER = "PYRUN_TEST_ID"  # set in the runtime's environment and the container's: finds survivors
CREATE = ("create", "--bundle", "{bundle}", "{id}")
RUN = ("run", "--bundle", "{bundle}", "{id}")


# --- running the runtime -------------------------------------------------------------------------

@pytest.fixture
def invoke(state_root, tmp_path, container_id):
    """Like the `pyrun` fixture, but stdio goes to files, not pipes.

    A create that (wrongly) succeeds leaves a container holding the stdio it inherited; with
    pipes, subprocess.run would wait for that container to exit instead of for the runtime.
    """
    env = {**os.environ, MARKER: container_id}
    counter = itertools.count()

    def call(*args, timeout=30) -> subprocess.CompletedProcess:
        out, err = (tmp_path / f"io-{next(counter)}.{n}" for n in ("out", "err"))
        cmd = [PYRUN, "--root", str(state_root), *map(str, args)]
        with open(out, "w") as o, open(err, "w") as e:
            rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e, env=env,
                                timeout=timeout).returncode
        return subprocess.CompletedProcess(cmd, rc, out.read_text(), err.read_text())

    return call


def base_config(cid: str, **process) -> dict:
    """The default bundle config, marked with the (unique) container id: hostname and env."""
    cfg = default_config(**process)
    cfg["hostname"] = cid
    cfg["process"]["env"].append(f"{MARKER}={cid}")
    return cfg


# --- checks --------------------------------------------------------------------------------------

def mentions(line: str, keyword: str) -> bool:
    """`keyword` appears in `line` as a whole word (so "id" does not match "invalid")."""
    return re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", line, re.IGNORECASE) is not None


def assert_refused(res: subprocess.CompletedProcess, keywords: tuple[str, ...], cid: str = "",
                   status: int = 1):
    """Exit 1 (exec: runc's 255), one `pyrun: ` line on stderr naming the problem, no
    traceback.

    The id is cut out of the line first: the `<command> <id>:` prefix alone must not count.
    """
    shown = f"exit status {res.returncode}; stderr: {res.stderr!r}; stdout: {res.stdout!r}"
    assert res.returncode == status, shown
    assert "Traceback" not in res.stdout + res.stderr, shown
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrun: ") and lines[0][7:].strip(), \
        f"stderr is not one 'pyrun: ...' line: {res.stderr!r}"
    detail = lines[0].replace(cid, "") if cid else lines[0]
    assert any(mentions(detail, k) for k in keywords), \
        f"stderr names none of {keywords}: {lines[0]!r}"


def hostname_in(pid: str) -> str:
    res = subprocess.run(["nsenter", f"--uts=/proc/{pid}/ns/uts", "uname", "-n"],
                         capture_output=True, text=True)
    return res.stdout.strip()


def survivors(marker: str) -> list[str]:
    """Processes carrying the container's marker in argv or environ, or as their hostname."""
    needle, found, hostnames = marker.encode(), [], {}
    my_uts = os.readlink("/proc/self/ns/uts")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            uts = os.readlink(f"/proc/{pid}/ns/uts")
        except OSError:
            continue  # gone, or a zombie
        if uts != my_uts and uts not in hostnames:
            hostnames[uts] = hostname_in(pid)
        if needle in cmdline or needle in environ or hostnames.get(uts) == marker:
            argv = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {argv}")
    return found


def cgroups_named(cid: str) -> list[str]:
    """Cgroups named after the container, in any hierarchy (runc's default path is /<id>)."""
    return [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/**/{cid}")]


def assert_nothing_left(state_root: Path, cid: str):
    assert not os.listdir(state_root), f"state entries: {os.listdir(state_root)}"
    assert not (alive := survivors(cid)), f"processes survived: {alive}"
    assert not (cgs := cgroups_named(cid)), f"cgroups left: {cgs}"


# --- config edits --------------------------------------------------------------------------------

def _parent(cfg: dict, path: str):
    *keys, last = (int(k) if k.isdigit() else k for k in path.split("."))
    node = cfg
    for key in keys:
        node = node[key]
    return node, last


def setv(path: str, value) -> Callable[[dict], None]:
    """Set the JSON value at a dotted path ("process.user.uid", "mounts.0.type")."""
    def edit(cfg):
        node, last = _parent(cfg, path)
        node[last] = value
    return edit


def drop(path: str) -> Callable[[dict], None]:
    def edit(cfg):
        node, last = _parent(cfg, path)
        del node[last]
    return edit


def append(path: str, value) -> Callable[[dict], None]:
    def edit(cfg):
        node, last = _parent(cfg, path)
        node.setdefault(last, []).append(value)
    return edit


def text(raw: str) -> Callable[[dict], str]:
    """Replace config.json with raw text."""
    return lambda cfg: raw


def without_ns(kind: str) -> Callable[[dict], None]:
    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != kind]
    return edit


def both(*edits) -> Callable[[dict], None]:
    def edit(cfg):
        for e in edits:
            e(cfg)
    return edit


def rm_config(bundle: Path):
    (bundle / "config.json").unlink()


def rootfs_file(bundle: Path):
    (bundle / "rootfs-file").write_text("not a directory\n")


# --- the corpus ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    keywords: tuple[str, ...]              # any one must appear (case-insensitive, whole word)
    edit: Callable[[dict], object] | None = None   # in place, or returns new config (dict/text)
    prepare: Callable[[Path], None] | None = None  # changes the written bundle directory
    argv: tuple[str, ...] = CREATE          # "{bundle}" and "{id}" are filled in
    cid: str | None = None                  # an id to use instead of the fixture's unique one


NS_PATH = "/run/netns/pyrun-test-no-such-ns"
NOSUCHFS = {"destination": "/mnt", "type": "nosuchfs", "source": "none"}

CASES = [
    # The bundle and config.json itself
    Case("missing-bundle-dir", ("bundle", "config.json"),
         argv=("create", "--bundle", "{bundle}/no-such-dir", "{id}")),
    Case("no-config-json", ("config.json",), prepare=rm_config),
    Case("config-not-json", ("config.json",), edit=text("{not json")),
    Case("config-is-array", ("config.json",), edit=text("[]")),
    Case("missing-ociVersion", ("ociVersion",), edit=drop("ociVersion")),
    Case("ociVersion-not-string", ("ociVersion",), edit=setv("ociVersion", 1)),
    # root
    Case("missing-root", ("root",), edit=drop("root")),
    Case("missing-root-path", ("root.path",), edit=drop("root.path")),
    Case("root-path-missing-dir", ("root.path", "no-such-rootfs"),
         edit=setv("root.path", "no-such-rootfs")),
    Case("root-path-is-file", ("root.path", "rootfs-file"),
         edit=setv("root.path", "rootfs-file"), prepare=rootfs_file),
    # process
    Case("missing-process", ("process",), edit=drop("process")),
    Case("missing-args", ("process.args",), edit=drop("process.args")),
    Case("args-empty", ("process.args",), edit=setv("process.args", [])),
    Case("args-not-strings", ("process.args",), edit=setv("process.args", ["/bin/true", 1])),
    Case("cwd-relative", ("process.cwd",), edit=setv("process.cwd", "tmp")),
    Case("cwd-not-string", ("process.cwd",), edit=setv("process.cwd", 5)),
    Case("env-not-list", ("process.env",), edit=setv("process.env", "PATH=/bin")),
    Case("env-entry-without-equals", ("process.env",), edit=append("process.env", "NOEQUALS")),
    Case("uid-string", ("process.user.uid",), edit=setv("process.user.uid", "x")),
    Case("uid-negative", ("process.user.uid",), edit=setv("process.user.uid", -1)),
    Case("additionalGids-not-list", ("process.user.additionalGids",),
         edit=setv("process.user.additionalGids", "5")),
    Case("rlimit-unknown-type", ("process.rlimits", "RLIMIT_FOO"),
         edit=append("process.rlimits", {"type": "RLIMIT_FOO", "hard": 1, "soft": 1})),
    Case("rlimit-duplicate-type", ("process.rlimits", "RLIMIT_NOFILE"),
         edit=append("process.rlimits", {"type": "RLIMIT_NOFILE", "hard": 512, "soft": 512})),
    Case("rlimit-soft-above-hard", ("process.rlimits", "RLIMIT_NOFILE"),
         edit=setv("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 2048}])),
    Case("oomScoreAdj-above-1000", ("process.oomScoreAdj",),
         edit=setv("process.oomScoreAdj", 1001)),
    Case("terminal-without-console-socket", ("console socket", "tty"),
         edit=setv("process.terminal", True)),
    # linux
    Case("namespace-unknown-type", ("linux.namespaces", "nosuchns"),
         edit=append("linux.namespaces", {"type": "nosuchns"})),
    Case("namespace-duplicate", ("linux.namespaces",),
         edit=append("linux.namespaces", {"type": "pid"})),
    Case("namespace-path-missing", ("linux.namespaces", NS_PATH),
         edit=both(without_ns("network"),
                   append("linux.namespaces", {"type": "network", "path": NS_PATH}))),
    Case("hostname-without-uts-namespace", ("hostname", "uts"), edit=without_ns("uts")),
    Case("sysctl-net-without-netns", ("linux.sysctl", "net.ipv4.ip_forward"),
         edit=both(without_ns("network"), setv("linux.sysctl", {"net.ipv4.ip_forward": "1"}))),
    Case("sysctl-unknown-key", ("linux.sysctl", "kernel.no_such_key"),
         edit=setv("linux.sysctl", {"kernel.no_such_key": "1"})),
    Case("device-unknown-type", ("linux.devices",),
         edit=setv("linux.devices", [{"path": "/dev/foo", "type": "x", "major": 1, "minor": 3}])),
    Case("maskedPaths-relative", ("linux.maskedPaths", "proc/kcore"),
         edit=append("linux.maskedPaths", "proc/kcore")),
    Case("uidMappings-without-user-namespace", ("linux.uidMappings", "user"),
         edit=setv("linux.uidMappings", [{"containerID": 0, "hostID": 100000, "size": 1000}])),
    Case("seccomp-unknown-action", ("linux.seccomp", "SCMP_ACT_NOPE"),
         edit=setv("linux.seccomp", {"defaultAction": "SCMP_ACT_NOPE"})),
    # mounts and hooks
    Case("mounts-not-list", ("mounts",), edit=setv("mounts", {"destination": "/mnt"})),
    Case("mount-without-destination", ("mounts", "destination"),
         edit=append("mounts", {"type": "tmpfs", "source": "tmpfs"})),
    Case("mount-type-nosuchfs", ("nosuchfs", "/mnt"), edit=append("mounts", NOSUCHFS)),
    Case("mount-type-nosuchfs-run", ("nosuchfs", "/mnt"), edit=append("mounts", NOSUCHFS),
         argv=RUN),
    Case("hook-missing-binary", ("hooks.createRuntime", "createRuntime", "/no/such/hook"),
         edit=setv("hooks", {"createRuntime": [{"path": "/no/such/hook"}]})),
    # the executable
    Case("binary-missing", ("/bin/nosuchbinary",),
         edit=setv("process.args", ["/bin/nosuchbinary"])),
    Case("binary-missing-run", ("/bin/nosuchbinary",),
         edit=setv("process.args", ["/bin/nosuchbinary"]), argv=RUN),
    Case("binary-is-directory", ("/bin",), edit=setv("process.args", ["/bin"])),
    Case("binary-is-directory-run", ("/bin",), edit=setv("process.args", ["/bin"]), argv=RUN),
    # container ids
    Case("id-empty", ("id",), cid=""),
    Case("id-with-slash", ("id",), cid="a/b"),
    Case("id-dotdot", ("id",), cid=".."),
    Case("id-with-space", ("id",), cid="a b"),
    Case("id-too-long", ("id",), cid="x" * 1025),
    # the command line
    Case("unknown-flag", ("no-such-flag",),
         argv=("create", "--no-such-flag", "--bundle", "{bundle}", "{id}")),
    Case("unknown-command", ("no-such-command",), argv=("no-such-command", "{id}")),
    Case("preserve-fds-not-number", ("preserve-fds",),
         argv=("create", "--preserve-fds", "x", "--bundle", "{bundle}", "{id}")),
    Case("pid-file-dir-missing", ("pid-file", "pid file", "{bundle}/no-such-dir"),
         argv=("create", "--pid-file", "{bundle}/no-such-dir/pid", "--bundle", "{bundle}",
               "{id}")),
    *(Case(f"{cmd}-unknown-id", ("does not exist",), argv=(cmd, "{id}", *rest))
      for cmd, rest in (("start", ()), ("state", ()), ("delete", ()), ("kill", ("KILL",)),
                        ("exec", ("/bin/true",)), ("pause", ()), ("resume", ())))
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused(case: Case, invoke, make_bundle, container_id, state_root):
    cfg = base_config(container_id)
    if case.edit is not None:
        cfg = case.edit(cfg) or cfg
    bundle = make_bundle(config=cfg)
    if case.prepare is not None:
        case.prepare(bundle)
    cid = container_id if case.cid is None else case.cid
    fill = {"bundle": str(bundle), "id": cid}

    res = invoke(*(a.format(**fill) for a in case.argv))

    status = 255 if case.argv[0] == "exec" else 1  # runc's "exec failed" status
    assert_refused(res, tuple(k.format(**fill) for k in case.keywords), cid, status)
    assert_nothing_left(state_root, container_id)


# --- cases with extra steps ----------------------------------------------------------------------

def state_of(invoke, cid: str) -> dict:
    res = invoke("state", cid)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def created(invoke, make_bundle, container_id, state_root):
    """A container in state 'created' running `sleep 100`; force-deleted afterwards."""
    bundle = make_bundle(config=base_config(container_id, args=["sleep", "100"]), name="first")
    res = invoke("create", "--bundle", bundle, container_id)
    try:
        assert res.returncode == 0, f"could not create the first container: {res.stderr!r}"
        st = state_of(invoke, container_id)
        assert st["status"] == "created", st
        yield st
    finally:
        invoke("delete", "--force", container_id)
    assert_nothing_left(state_root, container_id)


def test_existing_id_is_refused(created, invoke, make_bundle, container_id):
    bundle = make_bundle(config=base_config(container_id), name="second")

    res = invoke("create", "--bundle", bundle, container_id)

    assert_refused(res, ("exists",), container_id)
    after = state_of(invoke, container_id)
    assert (after["status"], after["pid"]) == ("created", created["pid"])
    assert after["bundle"] == created["bundle"]


def test_kill_with_unknown_signal(created, invoke, container_id):
    res = invoke("kill", container_id, "SIGFOO")

    assert_refused(res, ("signal", "SIGFOO"), container_id)
    after = state_of(invoke, container_id)
    assert (after["status"], after["pid"]) == ("created", created["pid"])


def mount_points(mountinfo: str) -> dict[str, str]:
    """Mount point -> filesystem type, from /proc/PID/mountinfo text."""
    points = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        points[left.split()[4]] = right.split()[0]
    return points


def escape_absolute(rootfs: Path, leaf: str):
    """rootfs/escape -> /tmp/<leaf> (a host directory); mount at /escape/x."""
    host_dir = Path("/tmp") / leaf
    host_dir.mkdir()
    (rootfs / "escape").symlink_to(host_dir)
    return "/escape/x", host_dir / "x", Path("/tmp", leaf, "x")


def escape_relative(rootfs: Path, leaf: str):
    """rootfs/escape -> ../../.. (far enough to reach the host's /); mount at /escape/<leaf>."""
    (rootfs / "escape").symlink_to("/".join([".."] * (len(rootfs.parts) + 2)))
    return f"/escape/{leaf}", Path("/", leaf), Path("/", leaf)


@pytest.mark.parametrize("link", [escape_absolute, escape_relative], ids=["absolute", "relative"])
def test_mount_through_symlink_stays_in_rootfs(link, invoke, make_bundle, container_id,
                                               state_root):
    """A destination is resolved inside the rootfs (runc: securejoin), never on the host.

    Refusing the mount is acceptable; mounting on the host is not. If it is accepted, the
    mount must sit at the symlink's target *inside* the rootfs.
    """
    cfg = base_config(container_id, args=["cat", "/proc/self/mountinfo"])
    leaf = f"pyrun-escape-{uuid.uuid4().hex[:12]}"
    bundle = make_bundle(config=cfg)  # its rootfs is a private copy: the link can go in now
    dest, host_path, inside = link(bundle / "rootfs", leaf)
    cfg["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs"})
    make_bundle(config=cfg)
    host_dir = host_path.parent
    before = sorted(os.listdir(host_dir))
    try:
        res = invoke("run", "--bundle", bundle, container_id)
        assert not host_path.exists(), f"the mount escaped to the host: {host_path}"
        assert sorted(os.listdir(host_dir)) == before
        if res.returncode == 0:
            points = mount_points(res.stdout)
            assert points.get(str(inside)) == "tmpfs", f"no tmpfs at {inside}: {points}"
            assert (bundle / "rootfs" / inside.relative_to("/")).is_dir()
        else:
            assert_refused(res, (dest, "mounts", "symlink"), container_id)
    finally:
        if host_dir == Path("/"):
            host_path.is_dir() and host_path.rmdir()
        else:
            for p in sorted(host_dir.rglob("*"), reverse=True):
                p.rmdir()
            host_dir.rmdir()
    assert_nothing_left(state_root, container_id)


# --- not errors: where the spec (and runc) say to accept ----------------------------------------

def test_relative_mount_destination_is_relative_to_root(invoke, make_bundle, container_id,
                                                        state_root):
    """runtime-spec config.md (Linux): a destination "MAY be a relative path, in which case it
    MUST be interpreted as relative to "/"" (deprecated). runc accepts it with a warning."""
    cfg = base_config(container_id, args=["cat", "/proc/self/mountinfo"])
    cfg["mounts"].append({"destination": "tmp", "type": "tmpfs", "source": "tmpfs"})

    res = invoke("run", "--bundle", make_bundle(config=cfg), container_id)

    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert mount_points(res.stdout).get("/tmp") == "tmpfs", res.stdout
    assert_nothing_left(state_root, container_id)


def test_unknown_capability_is_a_warning(invoke, make_bundle, container_id, state_root):
    """runtime-spec config.md: a capability that "cannot be mapped to a relevant kernel
    interface ... MUST be logged as a warning"; runtimes "SHOULD NOT fail". Not granted, either."""
    cfg = base_config(container_id, args=["cat", "/proc/self/status"])
    cfg["process"]["capabilities"]["bounding"].append("CAP_FOO")

    res = invoke("run", "--bundle", make_bundle(config=cfg), container_id)

    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "CAP_FOO" in res.stderr, "the ignored capability must be named in a warning"
    status = dict(line.split(":\t", 1) for line in res.stdout.splitlines() if ":\t" in line)
    kill, net_bind_service, audit_write = 5, 10, 29
    assert int(status["CapBnd"], 16) == (1 << kill) | (1 << net_bind_service) | (1 << audit_write)
    assert_nothing_left(state_root, container_id)


def test_default_bundle_is_accepted(invoke, make_bundle, container_id, state_root):
    """The control: the unedited base config runs, so each refusal above is the edit's doing."""
    res = invoke("run", "--bundle", make_bundle(config=base_config(container_id)), container_id)
    assert (res.returncode, res.stderr) == (0, "")
    assert_nothing_left(state_root, container_id)

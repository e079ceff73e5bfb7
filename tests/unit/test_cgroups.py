"""pyrun.linux.cgroups: cgroupsPath rules, and layout detection from a fake mountinfo."""

import importlib

import pytest

from pyrun.errors import NotSupportedYet
from pyrun.linux import cgroups
from pyrun.linux.cgroups import CgroupError, resolve_path

# pyrun.linux.cgroups re-exports the function `detect`, which hides the module of that name.
detect_mod = importlib.import_module("pyrun.linux.cgroups.detect")


@pytest.fixture
def own_cgroup(monkeypatch):
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {"0": "/user.slice/session-1.scope"})


# --------------------------------------------------------------------------------------
# resolve_path


def test_empty_path_is_pyrun_id():
    assert resolve_path("", "c1") == "/pyrun/c1"


@pytest.mark.parametrize(("given", "expected"), [
    ("/a/b", "/a/b"), ("/a//b/", "/a/b"), ("/a/./b/../c", "/a/c"), ("//a", "/a"),
    ("/../../a", "/a"),
])
def test_absolute_path_kept_and_normalized(given, expected):
    # BUG: os.path.normpath("/" + "/a/b") is "//a/b" (POSIX keeps two leading slashes).
    assert resolve_path(given, "c1") == expected


def test_relative_path_is_below_own_cgroup(own_cgroup):
    assert resolve_path("pods/c1", "c1") == "/user.slice/session-1.scope/pods/c1"


def test_relative_path_with_dotdot_stays_below_own_cgroup(own_cgroup):
    # runc cleans a relative path as if rooted at "/" first (CleanPath): ".." cannot
    # climb out of pyrun's own cgroup.
    assert resolve_path("../../x", "c1") == "/user.slice/session-1.scope/x"


@pytest.mark.parametrize("given", ["/", "//", "/a/..", "/.."])
def test_root_cgroup_rejected(given):
    # BUG: "/", "/a/.." and "/.." normalize to "//", which is not "/", so they are accepted
    # and the container is put in the hierarchy root: delete would then SIGKILL every
    # process of the host's root cgroup (kill_all reads its cgroup.procs).
    with pytest.raises(CgroupError) as e:
        resolve_path(given, "c1")
    assert e.value.reason == "must not be the root cgroup"


def test_a_systemd_slice_path_without_the_flag_says_which_flag():
    with pytest.raises(CgroupError) as e:
        resolve_path("system.slice:pyrun:c1", "c1")
    assert e.value.reason == "looks like systemd's slice:prefix:name: pass --systemd-cgroup"


@pytest.fixture
def no_systemd(monkeypatch):
    monkeypatch.setattr(cgroups, "SYSTEMD_RUNNING", "/nonexistent/run/systemd/system")


@pytest.mark.parametrize(("given", "expected"), [
    # runc's rules (libcontainer/cgroups/systemd: ExpandSlice, getUnitName)
    ("system.slice:docker:abc", "/system.slice/docker-abc.scope"),
    ("machine-pods-p1.slice:crio:abc", "/machine.slice/machine-pods.slice/"
                                       "machine-pods-p1.slice/crio-abc.scope"),
    (":pyrun:c1", "/system.slice/pyrun-c1.scope"),
    ("-.slice:pyrun:c1", "/pyrun-c1.scope"),
    ("system.slice:x:kubepods-pod1.slice", "/kubepods.slice/kubepods-pod1.slice"),
    ("", "/system.slice/pyrun-c1.scope"),
])
def test_systemd_paths_map_to_cgroupfs_as_systemd_lays_them_out(no_systemd, given, expected):
    assert resolve_path(given, "c1", systemd=True) == expected


@pytest.mark.parametrize(("given", "reason"), [
    ("/a/b", 'expected "slice:prefix:name" with --systemd-cgroup'),
    ("a:b", 'expected "slice:prefix:name" with --systemd-cgroup'),
    ("system:pyrun:c1", "invalid slice name 'system'"),
    ("a--b.slice:pyrun:c1", "invalid slice name 'a--b.slice'"),
    ("a/b.slice:pyrun:c1", "invalid slice name 'a/b.slice'"),
    ("system.slice:pyrun:", "the name part is empty"),
])
def test_bad_systemd_paths_are_refused(no_systemd, given, reason):
    with pytest.raises(CgroupError) as e:
        resolve_path(given, "c1", systemd=True)
    assert e.value.reason == reason


def test_systemd_paths_are_refused_while_systemd_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(cgroups, "SYSTEMD_RUNNING", str(tmp_path))
    with pytest.raises(NotSupportedYet, match="systemd is running"):
        resolve_path("system.slice:pyrun:c1", "c1", systemd=True)


@pytest.fixture
def proc_self_cgroup(monkeypatch, tmp_path):
    """Point pyrun at a /proc/self/cgroup text of the test's."""
    path = tmp_path / "cgroup"
    monkeypatch.setattr(cgroups, "PROC_SELF_CGROUP", str(path))
    return path.write_text


def test_own_cgroup_is_the_unified_entry(proc_self_cgroup):
    proc_self_cgroup("12:pids:/v1/path\n1:name=systemd:/sd\n0::/unified/me\n")
    assert cgroups._own_cgroup() == "/unified/me"


def test_own_cgroup_on_pure_v1_is_the_first_entry(proc_self_cgroup):
    proc_self_cgroup("12:pids:/v1/path\n11:memory:/other\n")
    assert cgroups._own_cgroup() == "/v1/path"


# --------------------------------------------------------------------------------------
# detect() / hierarchies()

ROOT_LINES = (
    "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n"
    "24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:3 - sysfs sysfs rw\n"
)

PURE_V2 = ROOT_LINES + (
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2"
    " rw,nsdelegate,memory_recursiveprot\n"
)

HYBRID = ROOT_LINES + (
    "30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10"
    " - cgroup2 cgroup2 rw,nsdelegate\n"
    "32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11"
    " - cgroup cgroup rw,xattr,name=systemd\n"
    "33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12"
    " - cgroup cgroup rw,cpu,cpuacct\n"
    "34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13"
    " - cgroup cgroup rw,memory\n"
    "36 30 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14"
    " - cgroup cgroup rw,pids\n"
)

# The layout of this project's machines: no optional fields, cpuset with clone_children.
PURE_V1 = ROOT_LINES + (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup"
    " rw,cpuset,clone_children\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "37 31 0:34 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup"
    " rw,release_agent=/x,name=systemd\n"
    # the same memory hierarchy mounted a second time: the first mount wins
    "38 22 0:32 / /mnt/memory rw,relatime - cgroup cgroup rw,memory\n"
)


@pytest.fixture
def mountinfo(monkeypatch, tmp_path):
    """Point detection at a mountinfo text of the test's (and forget what it read)."""
    monkeypatch.setattr(detect_mod, "_cache", {})
    path = tmp_path / "mountinfo"
    monkeypatch.setattr(detect_mod, "MOUNTINFO", str(path))

    def use(text):
        path.write_text(text)

    return use


def _summary():
    return [(h.mountpoint, h.version, h.controllers) for h in detect_mod.hierarchies()]


def test_pure_v2(mountinfo):
    mountinfo(PURE_V2)
    assert detect_mod.detect() == "v2"
    assert _summary() == [("/sys/fs/cgroup", 2, ())]


def test_hybrid(mountinfo):
    mountinfo(HYBRID)
    assert detect_mod.detect() == "hybrid"
    assert _summary() == [
        ("/sys/fs/cgroup/unified", 2, ()),
        ("/sys/fs/cgroup/systemd", 1, ("name=systemd",)),
        ("/sys/fs/cgroup/cpu,cpuacct", 1, ("cpu", "cpuacct")),
        ("/sys/fs/cgroup/memory", 1, ("memory",)),
        ("/sys/fs/cgroup/pids", 1, ("pids",)),
    ]


def test_pure_v1(mountinfo):
    mountinfo(PURE_V1)
    assert detect_mod.detect() == "v1"
    assert _summary() == [
        ("/sys/fs/cgroup/cpu", 1, ("cpu",)),
        ("/sys/fs/cgroup/cpuset", 1, ("cpuset",)),
        ("/sys/fs/cgroup/memory", 1, ("memory",)),
        ("/sys/fs/cgroup/freezer", 1, ("freezer",)),
        ("/sys/fs/cgroup/systemd", 1, ("name=systemd",)),
    ]


def test_detection_is_read_once(mountinfo):
    mountinfo(PURE_V2)
    assert detect_mod.detect() == "v2"
    mountinfo(HYBRID)
    assert detect_mod.detect() == "v2"
    assert len(detect_mod.hierarchies()) == 1


def test_package_exports_the_same_detect(mountinfo):
    mountinfo(HYBRID)
    assert cgroups.detect() == "hybrid"
    assert cgroups.hierarchies() is detect_mod.hierarchies()


def test_runc_conversions():
    from pyrun.linux.cgroups.resources import v2_cpu_weight, v2_io_weight

    assert v2_cpu_weight(2) == 1
    assert v2_cpu_weight(1024) == 39  # runc: the default share maps to 39
    assert v2_cpu_weight(262144) == 10000
    assert v2_io_weight(10) == 1
    assert v2_io_weight(1000) == 10000


def test_v2_values_for_memory_swap_and_cpu():
    from pyrun.config import Resources
    from pyrun.linux.cgroups.v2 import _v2_values

    r = Resources(memory_limit=100, memory_swap=300, cpu_quota=5000, cpu_period=10000,
                  pids_limit=-1, blkio_weight=500)
    assert dict(_v2_values(r)) == {"memory.max": "100", "memory.swap.max": "200",
                                   "cpu.max": "5000 10000", "pids.max": "max",
                                   "io.weight": f"default {1 + (490 * 9999) // 990}"}


def test_v2_refuses_what_only_v1_has():
    from pyrun.config import Resources
    from pyrun.linux.cgroups.base import CgroupError
    from pyrun.linux.cgroups.v2 import _v2_values

    with pytest.raises(CgroupError, match="realtime"):
        list(_v2_values(Resources(cpu_realtime_runtime=1000)))
    with pytest.raises(CgroupError, match=r"needs memory\.limit"):
        list(_v2_values(Resources(memory_swap=100)))


def test_relative_path_refused_when_own_cgroups_differ(monkeypatch):
    """runc resolves it per v1 hierarchy; pyrun keeps one path, so it refuses by name."""
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {"4": "/a", "8": "/b"})
    with pytest.raises(NotSupportedYet, match=r"relative linux\.cgroupsPath"):
        resolve_path("pods/c1", "c1")

"""The cgroup drivers against a directory tree of the test's own, standing in for the
mounted hierarchies (the drivers take their mountpoints): which files they write, what
they make and remove, and what they count as the cgroup's processes. No root needed."""

from pathlib import Path

import pytest

from pyrun.config import Resources
from pyrun.errors import PyrunError
from pyrun.linux.cgroups.detect import Hierarchy
from pyrun.linux.cgroups.v1 import V1Group
from pyrun.linux.cgroups.v2 import V2Group


def v2_dir(path: Path, controllers="cpu memory pids") -> Path:
    """A directory as the kernel shows a v2 cgroup: its controller files."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(controllers + "\n")
    (path / "cgroup.subtree_control").write_text("")
    (path / "cgroup.procs").write_text("")
    return path


@pytest.fixture
def v2_root(tmp_path) -> Path:
    return v2_dir(tmp_path / "unified")


def test_v2_create_enables_controllers_and_reports_the_leaf_it_made(v2_root):
    v2_dir(v2_root / "pyrun")  # the shared parent, there already
    group = V2Group("/pyrun/c1", str(v2_root))
    made = group.create()
    assert made == [str(v2_root / "pyrun" / "c1")]
    assert (v2_root / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (v2_root / "pyrun" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


def test_v2_create_of_an_existing_cgroup_made_nothing(v2_root):
    v2_dir(v2_root / "pyrun")
    v2_dir(v2_root / "pyrun" / "c1")
    assert V2Group("/pyrun/c1", str(v2_root)).create() == []


def test_v2_destroy_removes_only_what_create_made(v2_root):
    leaf = v2_root / "pyrun" / "c1"
    leaf.mkdir(parents=True)
    (leaf / "inner").mkdir()  # a sub-cgroup the container made
    group = V2Group("/pyrun/c1", str(v2_root))
    group.destroy([])  # not made by pyrun: kept
    assert leaf.is_dir()
    group.destroy([str(leaf)])
    assert not leaf.exists() and (v2_root / "pyrun").is_dir()


def test_v2_apply_writes_runc_conversions(v2_root):
    leaf = v2_dir(v2_root / "c1")
    V2Group("/c1", str(v2_root)).apply(Resources(memory_limit=1 << 26, cpu_shares=1024,
                                                 pids_limit=0))
    assert (leaf / "memory.max").read_text() == str(1 << 26)
    assert (leaf / "cpu.weight").read_text() == "39"
    assert (leaf / "pids.max").read_text() == "max"


def test_v2_all_procs_counts_sub_cgroups(v2_root):
    # v2 keeps processes in leaves only: a parent's own cgroup.procs is empty.
    v2_dir(v2_root / "shared")
    (v2_dir(v2_root / "shared" / "leaf") / "cgroup.procs").write_text("41\n42\n")
    group = V2Group("/shared", str(v2_root))
    assert group.procs() == []
    assert sorted(group.all_procs()) == [41, 42]


def test_v2_frozen_reads_cgroup_events(v2_root):
    leaf = v2_dir(v2_root / "c1")
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert V2Group("/c1", str(v2_root)).frozen() is True
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    assert V2Group("/c1", str(v2_root)).frozen() is False


@pytest.fixture
def v1_hierarchies(tmp_path) -> list[Hierarchy]:
    found = []
    for name in ("cpu,cpuacct", "cpuset", "memory", "pids", "freezer"):
        mount = tmp_path / name
        mount.mkdir()
        (mount / "cgroup.procs").write_text("")
        found.append(Hierarchy(str(mount), 1, tuple(name.split(","))))
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    unified = tmp_path / "unified"
    unified.mkdir()
    return [*found, Hierarchy(str(unified), 2, ())]


def test_v1_create_copies_cpuset_down_and_reports_the_leaves_it_made(v1_hierarchies,
                                                                      tmp_path):
    (tmp_path / "memory" / "pyrun" / "c1").mkdir(parents=True)  # someone else's, here
    group = V1Group("/pyrun/c1", v1_hierarchies)
    made = group.create()
    assert str(tmp_path / "memory" / "pyrun" / "c1") not in made
    assert str(tmp_path / "pids" / "pyrun" / "c1") in made
    assert str(tmp_path / "unified" / "pyrun" / "c1") in made
    assert (tmp_path / "cpuset" / "pyrun" / "c1" / "cpuset.cpus").read_text() == "0-1"
    assert (tmp_path / "cpuset" / "pyrun" / "c1" / "cpuset.mems").read_text() == "0"
    for name in ("cpuset.cpus", "cpuset.mems"):  # the kernel's files go with the directory
        (tmp_path / "cpuset" / "pyrun" / "c1" / name).unlink()
    group.destroy(made)
    assert (tmp_path / "memory" / "pyrun" / "c1").is_dir()
    assert not (tmp_path / "pids" / "pyrun" / "c1").exists()


def test_v1_apply_writes_each_controllers_file(v1_hierarchies, tmp_path):
    group = V1Group("/c1", v1_hierarchies)
    group.create()
    group.apply(Resources(cpu_shares=512, pids_limit=10, cpu_cpus="1"))
    assert (tmp_path / "cpu,cpuacct" / "c1" / "cpu.shares").read_text() == "512"
    assert (tmp_path / "pids" / "c1" / "pids.max").read_text() == "10"
    assert (tmp_path / "cpuset" / "c1" / "cpuset.cpus").read_text() == "1"


def test_v1_all_procs_is_every_hierarchy_and_below(v1_hierarchies, tmp_path):
    group = V1Group("/c1", v1_hierarchies)
    group.create()
    (tmp_path / "memory" / "c1" / "cgroup.procs").write_text("7\n")
    (tmp_path / "pids" / "c1" / "sub").mkdir()
    (tmp_path / "pids" / "c1" / "sub" / "cgroup.procs").write_text("8\n")
    assert group.all_procs() == [7, 8]


def _no_cpuset(hierarchies):
    # a cpuset directory holds the cpus/mems files create copied in: not removable here
    return [h for h in hierarchies if "cpuset" not in h.controllers]


def test_v1_nested_path_every_level_made_is_removed_but_the_shared_top(v1_hierarchies,
                                                                        tmp_path):
    group = V1Group("/pyrun/c1/sub/sub2", _no_cpuset(v1_hierarchies))
    levels = [str(tmp_path / h / "pyrun" / p)
              for h in ("cpu,cpuacct", "memory", "pids", "freezer", "unified")
              for p in ("c1", "c1/sub", "c1/sub/sub2")]
    assert group.dirs_to_make() == levels  # journaled before any is made
    made = group.create()
    assert made == levels
    group.destroy(made)
    for h in ("cpu,cpuacct", "memory", "pids", "freezer", "unified"):
        assert list((tmp_path / h / "pyrun").iterdir()) == []  # /pyrun, shared, stays


def test_v1_a_level_kept_by_another_container_stays(v1_hierarchies, tmp_path):
    group = V1Group("/pyrun/pod/c1", _no_cpuset(v1_hierarchies))
    made = group.create()
    (tmp_path / "pids" / "pyrun" / "pod" / "c2").mkdir()  # another container's, since
    group.destroy(made)
    assert (tmp_path / "pids" / "pyrun" / "pod" / "c2").is_dir()
    assert not (tmp_path / "memory" / "pyrun" / "pod").exists()


def test_v1_a_failing_mkdir_leaves_nothing_made(v1_hierarchies, tmp_path):
    (tmp_path / "pids" / "pyrun" / "c1").mkdir(parents=True)
    (tmp_path / "pids" / "pyrun" / "c1" / "cgroup.procs").write_text("")  # a control file
    group = V1Group("/pyrun/c1/cgroup.procs", _no_cpuset(v1_hierarchies))
    with pytest.raises(PyrunError, match=r"cgroup\.procs: not a directory"):
        group.create()
    for h in ("cpu,cpuacct", "memory"):  # made before the pids hierarchy failed
        assert list((tmp_path / h / "pyrun").iterdir()) == []
    assert not (tmp_path / "freezer" / "pyrun").exists()  # never reached


def test_v1_placement_joins_each_v1_hierarchy_itself_and_is_born_in_the_unified(
        v1_hierarchies, tmp_path):
    group = V1Group("/c1", v1_hierarchies)
    group.create()
    for h in v1_hierarchies:  # the kernel's files, here plain ones
        name = "cgroup.procs" if h.version == 2 else "tasks"
        (Path(h.mountpoint) / "c1" / name).write_text("")
    placement = group.placement()
    try:
        assert placement.clone_fd >= 0
        assert (len(placement.task_fds), len(placement.late_fds)) == (4, 1)
        placement.born_inside = True
        placement.join_self()
        for name in ("cpu,cpuacct", "cpuset", "pids", "freezer"):
            assert (tmp_path / name / "c1" / "tasks").read_text() == "0"  # "me": no lock
        assert (tmp_path / "memory" / "c1" / "tasks").read_text() == ""  # once set up
        assert (tmp_path / "unified" / "c1" / "cgroup.procs").read_text() == ""  # born in
        placement.born_inside = False
        placement.without_clone().join_self()  # a user namespace's init
        assert (tmp_path / "unified" / "c1" / "cgroup.procs").read_text() == "0"
        placement.join_late()
        assert (tmp_path / "memory" / "c1" / "tasks").read_text() == "0"
    finally:
        placement.close()
    assert placement.fds() == []

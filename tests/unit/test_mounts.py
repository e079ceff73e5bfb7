"""pyrun.linux.mounts: option parsing, and the exact mount(2) sequences, through a recorder."""

import os

import pytest

from pyrun.linux import mounts
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.mounts import UnsupportedOption, mount_entry, parse_options
from pyrun.linux.syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_UNBINDABLE,
)
from tests.fakes import FakeSyscalls


@pytest.fixture
def sc():
    return FakeSyscalls()




# --------------------------------------------------------------------------------------
# parse_options


def test_empty_options():
    o = parse_options([])
    assert (o.flags, o.propagation, o.data, o.is_bind) == (0, 0, "", False)


def test_flag_options_combine():
    o = parse_options(["nosuid", "nodev", "noexec", "ro", "defaults"])
    assert o.flags == MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY


def test_ro_then_rw_clears_readonly():
    assert parse_options(["ro", "rw"]).flags == 0


def test_rw_then_ro_is_readonly():
    assert parse_options(["rw", "ro"]).flags == MS_RDONLY


def test_negative_option_clears_only_its_flag():
    assert parse_options(["nosuid", "nodev", "suid"]).flags == MS_NODEV


def test_bind():
    o = parse_options(["bind"])
    assert (o.flags, o.is_bind) == (MS_BIND, True)


def test_rbind():
    o = parse_options(["rbind", "ro"])
    assert (o.flags, o.is_bind) == (MS_BIND | MS_REC | MS_RDONLY, True)


@pytest.mark.parametrize(("option", "propagation"), [
    ("private", MS_PRIVATE), ("rprivate", MS_PRIVATE | MS_REC),
    ("shared", MS_SHARED), ("rshared", MS_SHARED | MS_REC),
    ("slave", MS_SLAVE), ("rslave", MS_SLAVE | MS_REC),
    ("unbindable", MS_UNBINDABLE), ("runbindable", MS_UNBINDABLE | MS_REC),
])
def test_propagation_is_kept_apart_from_flags(option, propagation):
    o = parse_options([option])
    assert (o.flags, o.propagation, o.data) == (0, propagation, "")


def test_last_propagation_wins():
    assert parse_options(["rshared", "slave"]).propagation == MS_SLAVE


def test_data_options_joined_with_commas_in_order():
    o = parse_options(["mode=755", "nosuid", "size=65536k", "strictatime"])
    assert o.data == "mode=755,size=65536k"
    assert o.flags == MS_NOSUID | MS_STRICTATIME


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_unsupported_option_raises(option):
    with pytest.raises(UnsupportedOption) as e:
        parse_options(["nosuid", option])
    assert str(e.value) == option


# --------------------------------------------------------------------------------------
# mount_entry


def test_tmpfs_with_data(sc, rootfs, rootfd):
    opts = parse_options(["nosuid", "nodev", "mode=1777", "size=65536k"])
    mount_entry(rootfd, "/dev/shm", "tmpfs", "shm", opts, sc=sc)
    assert sc.calls == [("mount", "shm", str(rootfs / "dev/shm"), "tmpfs",
                         MS_NOSUID | MS_NODEV, "mode=1777,size=65536k")]
    assert (rootfs / "dev/shm").is_dir()


def test_mount_without_data_passes_none_and_fstype_as_source(sc, rootfs, rootfd):
    mount_entry(rootfd, "/proc", "proc", "", parse_options(["remount"]), sc=sc)
    assert sc.calls == [("mount", "proc", str(rootfs / "proc"), "proc", 0, None)]


def test_destination_resolved_inside_root(sc, rootfs, rootfd):
    mount_entry(rootfd, "/run/lock", "tmpfs", "tmpfs", parse_options([]), sc=sc)
    assert all(p.startswith("/") for p in sc.opened)
    assert "/run/lock" in sc.opened


def test_bind_mount_is_one_call(sc, rootfs, rootfd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    mount_entry(rootfd, "/data", "", str(src), parse_options(["rbind"]), sc=sc)
    assert sc.calls == [("mount", str(src), str(rootfs / "data"), None, MS_BIND | MS_REC,
                         None)]


def test_bind_mount_readonly_takes_a_remount(sc, rootfs, rootfd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    mount_entry(rootfd, "/data", "", str(src), parse_options(["bind", "ro"]), sc=sc)
    target = str(rootfs / "data")
    assert sc.calls == [
        ("mount", str(src), target, None, MS_BIND, None),
        ("mount", None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None),
    ]


def test_bind_mount_with_propagation_takes_a_third_call(sc, rootfs, rootfd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    opts = parse_options(["rbind", "nosuid", "ro", "rprivate"])
    mount_entry(rootfd, "/data", "", str(src), opts, sc=sc)
    target = str(rootfs / "data")
    assert sc.calls == [
        ("mount", str(src), target, None, MS_BIND | MS_REC, None),
        ("mount", None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_RDONLY, None),
        ("mount", None, target, None, MS_PRIVATE | MS_REC, None),
    ]


def test_tmpfs_with_propagation(sc, rootfs, rootfd):
    mount_entry(rootfd, "/tmp", "tmpfs", "tmpfs", parse_options(["rslave"]), sc=sc)
    target = str(rootfs / "tmp")
    assert sc.calls == [("mount", "tmpfs", target, "tmpfs", 0, None),
                        ("mount", None, target, None, MS_SLAVE | MS_REC, None)]


def test_file_bind_creates_a_file_mountpoint(sc, rootfs, rootfd, tmp_path):
    src = tmp_path / "hosts"
    src.write_text("127.0.0.1 localhost\n")
    mount_entry(rootfd, "/etc/hosts", "", str(src), parse_options(["bind"]), sc=sc)
    assert (rootfs / "etc/hosts").is_file()
    assert (rootfs / "etc/hosts").read_text() == ""
    assert sc.calls == [("mount", str(src), str(rootfs / "etc/hosts"), None, MS_BIND, None)]


def test_bind_of_missing_source_fails_before_any_mount(sc, rootfd, tmp_path):
    with pytest.raises(FileNotFoundError):
        mount_entry(rootfd, "/data", "", str(tmp_path / "nosuch"), parse_options(["bind"]),
                    sc=sc)
    assert sc.calls == []


# --------------------------------------------------------------------------------------
# After pivot_root: masked and read-only paths (plain paths, no root fd)


def test_mask_file_binds_dev_null(sc, tmp_path):
    f = tmp_path / "kcore"
    f.write_text("")
    mounts.mask_path(str(f), sc=sc)
    assert sc.calls == [("mount", "/dev/null", str(f), None, MS_BIND, None)]


def test_mask_directory_mounts_readonly_tmpfs(sc, tmp_path):
    mounts.mask_path(str(tmp_path), sc=sc)
    assert sc.calls == [("mount", "tmpfs", str(tmp_path), "tmpfs", MS_RDONLY, None)]


def test_mask_missing_path_does_nothing(sc, tmp_path):
    mounts.mask_path(str(tmp_path / "nosuch"), sc=sc)
    assert sc.calls == []


# statvfs f_flag bit -> the mount(2) flag a remount must repeat to keep it.
ST_TO_MS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC,
            os.ST_NOATIME: mounts.MS_NOATIME, os.ST_NODIRATIME: mounts.MS_NODIRATIME,
            os.ST_RELATIME: MS_RELATIME}


def _expected_kept(path) -> int:
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in ST_TO_MS.items() if f_flag & st)


def test_readonly_path_binds_then_remounts_readonly(sc, tmp_path):
    mounts.readonly_path(str(tmp_path), sc=sc)
    assert len(sc.calls) == 2
    assert sc.calls[0] == ("mount", str(tmp_path), str(tmp_path), None, MS_BIND | MS_REC, None)
    *head, flags, data = sc.calls[1]
    assert head == ["mount", None, str(tmp_path), None]
    assert data is None
    # relatime aside (see the next test), exactly ro + bind + remount + the kept flags
    assert flags & ~MS_RELATIME == (MS_REMOUNT | MS_BIND | MS_RDONLY
                                    | (_expected_kept(tmp_path) & ~MS_RELATIME))


def test_readonly_path_keeps_relatime_of_a_relatime_mount(sc, tmp_path):
    # BUG: KEPT_ON_REMOUNT masks statvfs' f_flag with MS_RELATIME (1 << 21), but statvfs
    # reports relatime as ST_RELATIME (0x1000): the bit is never carried over.
    if not os.statvfs(tmp_path).f_flag & os.ST_RELATIME:
        pytest.skip("tmp_path's filesystem is not mounted relatime")
    mounts.readonly_path(str(tmp_path), sc=sc)
    assert sc.calls[1][4] & MS_RELATIME


def test_readonly_missing_path_does_nothing(sc, tmp_path):
    mounts.readonly_path(str(tmp_path / "nosuch"), sc=sc)
    assert sc.calls == []


# --------------------------------------------------------------------------------------
# The root


def test_make_root_private(sc):
    mounts.make_root_private(MS_SLAVE | MS_REC, sc=sc)
    assert sc.calls == [("mount", None, "/", None, MS_SLAVE | MS_REC, None)]


def test_bind_rootfs_onto_itself(sc):
    mounts.bind_rootfs("/b/rootfs", sc=sc)
    assert sc.calls == [("mount", "/b/rootfs", "/b/rootfs", None, MS_BIND | MS_REC, None)]


def test_pivot_root_detaches_old_root_as_slave(sc, rootfd):
    mounts.pivot_root(rootfd, sc=sc)
    assert sc.calls == [
        ("pivot_root", ".", "."),
        ("mount", None, ".", None, MS_SLAVE | MS_REC, None),
        ("umount2", ".", MNT_DETACH),
    ]


# --------------------------------------------------------------------------------------
# A "cgroup" mount

CGROUP_OPTS = ["nosuid", "noexec", "nodev", "relatime", "ro"]
CGROUP_FLAGS = MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY


def test_cgroup_v2_with_own_namespace_mounts_cgroup2(sc, rootfs, rootfd):
    mounts.mount_cgroup_tree(rootfd, "/sys/fs/cgroup", parse_options(CGROUP_OPTS),
                             [("", "/sys/fs/cgroup/pyrun/c1", 2)], own_namespace=True, sc=sc)
    assert sc.calls == [("mount", "cgroup2", str(rootfs / "sys/fs/cgroup"), "cgroup2",
                         CGROUP_FLAGS, None)]


def test_cgroup_v2_without_namespace_binds_the_container_cgroup(sc, rootfs, rootfd):
    mounts.mount_cgroup_tree(rootfd, "/sys/fs/cgroup", parse_options(CGROUP_OPTS),
                             [("", "/host/cg/c1", 2)], own_namespace=False, sc=sc)
    target = str(rootfs / "sys/fs/cgroup")
    assert sc.calls == [
        ("mount", "/host/cg/c1", target, None, MS_BIND, None),
        ("mount", None, target, None, MS_REMOUNT | MS_BIND | CGROUP_FLAGS, None),
    ]


def test_cgroup_v1_tree_is_a_tmpfs_with_one_bind_per_hierarchy(sc, rootfs, rootfd):
    hierarchies = [("memory", "/h/memory/c1", 1), ("pids", "/h/pids/c1", 1)]
    mounts.mount_cgroup_tree(rootfd, "/sys/fs/cgroup", parse_options(CGROUP_OPTS),
                             hierarchies, own_namespace=False, sc=sc)
    tree = str(rootfs / "sys/fs/cgroup")
    tree_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    assert sc.calls == [
        ("mount", "tmpfs", tree, "tmpfs", tree_flags, "mode=755"),
        ("mount", "/h/memory/c1", tree + "/memory", None, MS_BIND, None),
        ("mount", None, tree + "/memory", None, MS_REMOUNT | MS_BIND | CGROUP_FLAGS, None),
        ("mount", "/h/pids/c1", tree + "/pids", None, MS_BIND, None),
        ("mount", None, tree + "/pids", None, MS_REMOUNT | MS_BIND | CGROUP_FLAGS, None),
        ("mount", None, tree, None, MS_REMOUNT | MS_RDONLY | tree_flags, None),
    ]


def test_tmpcopyup_is_an_extension_not_mount_data():
    o = parse_options(["tmpcopyup", "nosuid", "mode=755"])
    assert (o.copy_up, o.flags, o.data) == (True, MS_NOSUID, "mode=755")


def test_copy_tree_keeps_files_dirs_links_and_modes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    dst.mkdir()
    (src / "file").write_bytes(b"x" * 3_000_000)
    (src / "file").chmod(0o640)
    (src / "sub" / "inner").write_text("inner")
    (src / "sub").chmod(0o711)
    (src / "link").symlink_to("sub/inner")
    src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        mounts.copy_tree(src_fd, dst_fd)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    assert (dst / "file").read_bytes() == b"x" * 3_000_000
    assert (dst / "file").stat().st_mode & 0o777 == 0o640
    assert (dst / "sub" / "inner").read_text() == "inner"
    assert (dst / "sub").stat().st_mode & 0o777 == 0o711
    assert os.readlink(dst / "link") == "sub/inner"


@pytest.mark.parametrize(("options", "attr_set", "attr_clr"), [
    (["rro"], real_syscalls.MOUNT_ATTR_RDONLY, 0),
    (["rro", "rrw"], 0, real_syscalls.MOUNT_ATTR_RDONLY),
    (["rnosuid", "rnodev"], real_syscalls.MOUNT_ATTR_NOSUID | real_syscalls.MOUNT_ATTR_NODEV, 0),
    (["rnoatime"], real_syscalls.MOUNT_ATTR_NOATIME, real_syscalls.MOUNT_ATTR__ATIME),
])
def test_recursive_options_become_mount_attributes(options, attr_set, attr_clr):
    o = parse_options(["rbind", *options])
    assert (o.attr_set, o.attr_clr, o.data) == (attr_set, attr_clr, "")


def test_rro_is_set_on_the_whole_tree_after_the_bind(sc, rootfd, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    mount_entry(rootfd, "/data", "bind", str(source), parse_options(["rbind", "rro"]), sc=sc)
    rootfs = os.readlink(f"/proc/self/fd/{rootfd}")
    assert sc.calls == [
        ("mount", str(source), f"{rootfs}/data", None, MS_BIND | MS_REC, None),
        ("mount_setattr", f"{rootfs}/data", real_syscalls.AT_RECURSIVE,
         real_syscalls.MOUNT_ATTR_RDONLY, 0),
    ]

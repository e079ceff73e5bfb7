"""pyrun.linux.paths with the real openat2(RESOLVE_IN_ROOT): no root needed (Linux >= 5.6).

A rootfs is untrusted: its symlinks must be resolved as if the rootfs were `/`.
"""

import os

import pytest

from pyrun.linux import paths


@pytest.fixture
def outside(tmp_path):
    """A host directory next to the rootfs that nothing may touch."""
    path = tmp_path / "outside"
    path.mkdir()
    return path


def _target(fd: int) -> str:
    try:
        return os.readlink(paths.fd_path(fd))
    finally:
        os.close(fd)


def test_fd_path():
    assert paths.fd_path(7) == "/proc/self/fd/7"


def test_make_dirs_creates_nested_directories(rootfs, rootfd):
    fd = paths.make_dirs(rootfd, "/a/b/c")
    assert _target(fd) == str(rootfs / "a/b/c")
    assert (rootfs / "a/b/c").is_dir()


def test_make_dirs_applies_mode(rootfs, rootfd):
    old = os.umask(0)
    try:
        os.close(paths.make_dirs(rootfd, "/m", mode=0o700))
    finally:
        os.umask(old)
    assert (rootfs / "m").stat().st_mode & 0o777 == 0o700


def test_make_dirs_on_existing_directories(rootfs, rootfd):
    (rootfs / "a/b").mkdir(parents=True)
    assert _target(paths.make_dirs(rootfd, "a//b/")) == str(rootfs / "a/b")


def test_make_dirs_of_root_returns_the_root(rootfs, rootfd):
    assert _target(paths.make_dirs(rootfd, "/")) == str(rootfs)


def test_make_dirs_through_a_file_fails(rootfs, rootfd):
    (rootfs / "f").write_text("")
    with pytest.raises(NotADirectoryError):
        paths.make_dirs(rootfd, "/f/x")


def test_absolute_symlink_is_resolved_inside_root(rootfs, rootfd, outside):
    # /etc -> <host path of outside>: inside the rootfs that names rootfs/<host path>.
    inside = rootfs / str(outside).lstrip("/")
    inside.mkdir(parents=True)
    (rootfs / "etc").symlink_to(outside)
    fd = paths.make_dirs(rootfd, "/etc/conf")
    assert _target(fd) == str(inside / "conf")
    assert (inside / "conf").is_dir()
    assert list(outside.iterdir()) == []


def test_dangling_absolute_symlink_never_reaches_the_host(rootfs, rootfd, outside):
    (rootfs / "etc").symlink_to(outside)  # rootfs/<outside> does not exist
    with pytest.raises(FileNotFoundError):
        paths.make_dirs(rootfd, "/etc/conf")
    assert list(outside.iterdir()) == []


def test_dotdot_symlink_stays_at_root(rootfs, rootfd, tmp_path):
    (rootfs / "up").symlink_to("../../..")
    fd = paths.make_dirs(rootfd, "/up/escaped")
    assert _target(fd) == str(rootfs / "escaped")
    assert (rootfs / "escaped").is_dir()
    assert not (tmp_path / "escaped").exists()
    assert not os.path.exists("/escaped")


def test_dotdot_in_path_stays_at_root(rootfs, rootfd, tmp_path):
    fd = paths.make_dirs(rootfd, "/../../x")
    assert _target(fd) == str(rootfs / "x")
    assert not (tmp_path / "x").exists()


def test_make_file_creates_empty_file_and_parents(rootfs, rootfd):
    fd = paths.make_file(rootfd, "/etc/hosts")
    assert _target(fd) == str(rootfs / "etc/hosts")
    assert (rootfs / "etc/hosts").read_text() == ""


def test_make_file_keeps_existing_content(rootfs, rootfd):
    (rootfs / "hostname").write_text("box\n")
    os.close(paths.make_file(rootfd, "/hostname"))
    assert (rootfs / "hostname").read_text() == "box\n"


def test_make_file_through_absolute_symlink_stays_inside(rootfs, rootfd, outside):
    inside = rootfs / str(outside).lstrip("/")
    inside.mkdir(parents=True)
    (rootfs / "etc").symlink_to(outside)
    fd = paths.make_file(rootfd, "/etc/resolv.conf")
    assert _target(fd) == str(inside / "resolv.conf")
    assert list(outside.iterdir()) == []


def test_make_mountpoint_directory_and_file(rootfs, rootfd):
    assert _target(paths.make_mountpoint(rootfd, "/d", is_dir=True)) == str(rootfs / "d")
    assert _target(paths.make_mountpoint(rootfd, "/x/f", is_dir=False)) == str(rootfs / "x/f")
    assert (rootfs / "d").is_dir()
    assert (rootfs / "x/f").is_file()


def test_open_in_root_resolves_absolute_symlink_inside(rootfs, rootfd, outside):
    (rootfs / "target").mkdir()
    (rootfs / "link").symlink_to("/target")
    (outside / "link").mkdir()
    assert _target(paths.open_in_root(rootfd, "/link")) == str(rootfs / "target")

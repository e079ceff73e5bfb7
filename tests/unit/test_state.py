"""pyrun.state: ids, the per-container directory, atomic state.json."""

import fcntl
import os

import pytest

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.state import Container, list_ids, open_container, validate_id


@pytest.mark.parametrize("cid", [
    "a", "abc123", "my-container_1.2+3", "A.B", "x" * 1024, "...", "-x",
    "7b4e6a0c5e7f4b8fa4c0d3c9a8e1f2d3",
])
def test_valid_ids(cid):
    assert validate_id(cid) == cid


@pytest.mark.parametrize("cid", [
    "", ".", "..", "a/b", "/abs", "a b", " a", "a\n", "x" * 1025, "café", "a:b", "a\x00b",
])
def test_invalid_ids(cid):
    with pytest.raises(PyrunError):
        validate_id(cid)


def test_empty_id_message():
    with pytest.raises(PyrunError) as e:
        validate_id("")
    assert str(e.value) == "container id: must not be empty"


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "state")


def test_create_dir_makes_a_private_directory(root):
    c = Container(root, "c1")
    c.create_dir()
    assert os.path.isdir(c.dir)
    assert c.dir == os.path.join(root, "c1")
    assert os.stat(c.dir).st_mode & 0o777 == 0o700


def test_create_dir_twice_already_exists(root):
    Container(root, "c1").create_dir()
    with pytest.raises(PyrunError) as e:
        Container(root, "c1").create_dir()
    assert str(e.value) == "container with id c1: already exists"


def test_save_load_round_trip(root):
    c = Container(root, "c1")
    c.create_dir()
    c.data = {"pid": 42, "pid_start_time": 12345, "bundle": "/b", "annotations": {"k": "v"}}
    c.save()
    assert open_container(root, "c1").data == c.data


def test_save_is_atomic_and_leaves_no_temp_file(root):
    c = Container(root, "c1")
    c.create_dir()
    c.data = {"pid": 1}
    c.save()
    c.data = {"pid": 2}
    c.save()
    assert os.listdir(c.dir) == ["state.json"]
    assert os.stat(c.state_path).st_mode & 0o777 == 0o600
    assert Container(root, "c1").load().data == {"pid": 2}


def test_load_missing_container_does_not_exist(root):
    with pytest.raises(PyrunError) as e:
        open_container(root, "nope")
    assert str(e.value) == "container nope: does not exist"


def test_load_corrupt_state(root):
    c = Container(root, "c1")
    c.create_dir()
    with open(c.state_path, "w") as f:
        f.write("{not json")
    with pytest.raises(PyrunError) as e:
        c.load()
    assert e.value.what == c.state_path
    assert e.value.reason.startswith("corrupt: ")


def test_open_container_validates_the_id(root):
    with pytest.raises(PyrunError) as e:
        open_container(root, "../etc")
    assert "invalid" in str(e.value)


def test_remove_dir(root):
    c = Container(root, "c1")
    c.create_dir()
    c.data = {"pid": 1}
    c.save()
    open(c.fifo_path, "w").close()
    c.remove_dir()
    assert not os.path.exists(c.dir)
    c.remove_dir()  # twice is fine


def test_lock_is_exclusive_until_unlock(root):
    c = Container(root, "c1")
    c.create_dir()
    c.lock()
    fd = os.open(os.path.join(c.dir, "lock"), os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        c.unlock()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_list_ids(root):
    assert list_ids(root) == []  # root does not exist yet
    for cid in ("b", "a", "c"):
        c = Container(root, cid)
        c.create_dir()
        c.data = {}
        c.save()
    Container(root, "half-made").create_dir()  # no state.json: not listed
    open(os.path.join(root, "stray-file"), "w").close()
    assert list_ids(root) == ["a", "b", "c"]


def test_state_file_names():
    assert (state.STATE_FILE, state.FIFO_NAME, state.MAX_ID_LENGTH) == (
        "state.json", "exec.fifo", 1024)

"""pyrun.runtime.common: a container's status, derived from its process, never stored."""

import os

import pytest

from pyrun.linux import process
from pyrun.runtime import common
from pyrun.state import Container


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "state")



def _container(root, **data) -> Container:
    """A container create finished (its state.json has `created`), unless data says."""
    c = Container(root, "c1")
    c.create_dir()
    c.data = {"created": "2026-12-06T00:00:00Z", **data}
    return c


def test_status_stopped_without_pid(root):
    assert common.status(_container(root)) == "stopped"


def test_status_stopped_for_pid_0(root):
    # /proc/0 does not exist: start_time(0) is None, which must not match a missing time
    assert common.status(_container(root, pid=0, pid_start_time=None)) == "stopped"


def test_status_stopped_when_start_time_differs(root):
    me = os.getpid()
    c = _container(root, pid=me, pid_start_time=process.start_time(me) + 1)
    open(c.fifo_path, "w").close()
    assert common.init_alive(c) is False
    assert common.status(c) == "stopped"


def test_status_stopped_when_start_time_missing(root):
    assert common.status(_container(root, pid=os.getpid())) == "stopped"


def test_status_created_when_alive_with_fifo(root):
    me = os.getpid()
    c = _container(root, pid=me, pid_start_time=process.start_time(me))
    open(c.fifo_path, "w").close()
    assert common.status(c) == "created"


def test_status_running_when_alive_without_fifo(root):
    me = os.getpid()
    c = _container(root, pid=me, pid_start_time=process.start_time(me))
    assert common.status(c) == "running"
    assert common.status(c, frozen=lambda: False) == "running"


def test_status_paused_when_frozen(root):
    me = os.getpid()
    c = _container(root, pid=me, pid_start_time=process.start_time(me))
    assert common.status(c, frozen=lambda: True) == "paused"


def test_start_time_of_missing_process_is_none():
    # pid_max is at most 2**22: this pid cannot exist
    assert process.start_time(2**22 + 1) is None


def test_status_creating_while_create_has_only_journaled(root):
    me = os.getpid()
    c = _container(root, pid=me, pid_start_time=process.start_time(me), created="")
    open(c.fifo_path, "w").close()
    assert common.status(c) == "creating"

"""pyrun.linux.sync: the typed channel between pyrun and its children, over a real
socketpair in one process."""

import os

import pytest

from pyrun.errors import PyrunError
from pyrun.linux import sync
from pyrun.linux.sync import Channel


@pytest.fixture
def pair():
    parent, child = Channel.pair()
    yield parent, child
    for chan in (parent, child):
        try:
            chan.close()
        except OSError:
            pass


def test_pid_then_cgroup_joined(pair):
    parent, child = pair
    child.send_pid(4242)
    assert parent.wait_pid() == 4242
    parent.send_cgroup_joined()
    child.wait_cgroup_joined()


def test_runtime_hooks_round_trip(pair):
    parent, child = pair
    parent.send_runtime_hooks_done({"id": "c1"})  # queued before the child asks
    child._send(sync.RUNTIME_HOOKS)
    assert parent.wait(sync.RUNTIME_HOOKS).kind == sync.RUNTIME_HOOKS
    assert child.wait(sync.HOOKS_DONE).data["state"] == {"id": "c1"}


def test_console_carries_an_fd(pair, tmp_path):
    parent, child = pair
    path = tmp_path / "f"
    path.write_text("hello")
    fd = os.open(path, os.O_RDONLY)
    child.send_console(fd)
    os.close(fd)
    message = parent.wait(sync.CONSOLE)
    [received] = message.fds
    assert os.read(received, 5) == b"hello"
    os.close(received)


def test_an_error_raises_child_failed_with_its_line(pair):
    parent, child = pair
    child.send_error("mount /proc (proc): Operation not permitted")
    with pytest.raises(sync.ChildFailed) as e:
        parent.wait(sync.CREATED)
    assert e.value.message == "mount /proc (proc): Operation not permitted"


def test_an_unexpected_message_is_refused_in_one_place_and_its_fds_closed(pair, tmp_path):
    parent, child = pair
    fd = os.open(tmp_path, os.O_RDONLY)
    child.send_console(fd)
    os.close(fd)
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(sync.UnexpectedMessage) as e:
        parent.wait(sync.PID)
    assert e.value.message == "expected pid: got 'console'"
    assert set(os.listdir("/proc/self/fd")) <= before


def test_end_of_file_is_channel_closed(pair):
    parent, child = pair
    child.close()
    with pytest.raises(sync.ChannelClosed):
        parent.wait(sync.PID)


def test_an_error_quoting_a_huge_value_still_arrives_as_one_short_line():
    parent, child = Channel.pair()
    child.send_error("sethostname " + "h" * 70000 + ": Invalid argument")
    with pytest.raises(sync.ChildFailed) as e:
        parent.wait(sync.CREATED)
    assert e.value.message.endswith(": Invalid argument") and len(e.value.message) < 2100


def test_a_message_too_long_to_read_whole_is_an_error_not_a_json_traceback():
    parent, child = Channel.pair()
    child.sock.send(b'{"type": "error", "message": "' + b"x" * 70000 + b'"}')
    with pytest.raises(PyrunError, match="cannot be read"):
        parent.wait(sync.CREATED)

"""linux.resources.devices: the cgroup device allow-list (v1 files, v2 eBPF), checked by
opening devices."""

import pytest

from tests.integration.bundles import default_config

# Also run on a pure cgroup v2 kernel by `make vm-test`.
pytestmark = pytest.mark.cgroups

MKNOD_CAPS = ["CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def test_a_device_outside_the_allow_list_cannot_be_opened(pyrun, make_bundle, container_id):
    # /dev/loop-control (c 10:237) made inside the container: root may create it (mknod is
    # allowed for every node, as runc) but the cgroup refuses to open it; /dev/null opens.
    script = ("mknod /tmp/lc c 10 237; true < /tmp/lc 2>/dev/null && echo lc-open;"
              "echo x > /dev/null && echo null-ok")
    config = default_config(args=("sh", "-c", script))
    config["process"]["capabilities"] = {k: MKNOD_CAPS for k in
                                         ("bounding", "effective", "permitted")}
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["null-ok"]


def test_without_an_allow_list_the_same_device_opens(pyrun, make_bundle, container_id):
    """The control for the test above: the refusal comes from the allow-list."""
    script = "mknod /tmp/lc c 10 237; true < /tmp/lc && echo lc-open"
    config = default_config(args=("sh", "-c", script))
    config["process"]["capabilities"] = {k: MKNOD_CAPS for k in
                                         ("bounding", "effective", "permitted")}
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.stdout.split() == ["lc-open"], result.stderr

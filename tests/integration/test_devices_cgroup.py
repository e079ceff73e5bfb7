"""linux.resources.devices: the cgroup device allow-list (v1 files, v2 eBPF), checked by
opening devices."""

import os

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


def test_an_allow_rule_lets_the_same_device_open(pyrun, make_bundle, container_id):
    """The control for the test above: the refusal comes from the allow-list."""
    script = "mknod /tmp/lc c 10 237; true < /tmp/lc && echo lc-open"
    config = default_config(args=("sh", "-c", script))
    config["process"]["capabilities"] = {k: MKNOD_CAPS for k in
                                         ("bounding", "effective", "permitted")}
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    config["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 237, "access": "rwm"}]}
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.stdout.split() == ["lc-open"], result.stderr


def a_real_disk() -> tuple[int, int]:
    """major, minor of a block device this host has and lets root open (some hosts
    refuse their own system disk to everyone: the control test would then prove nothing)."""
    for name in sorted(os.listdir("/sys/dev/block")):
        device = os.path.basename(os.path.realpath(f"/sys/dev/block/{name}"))
        try:
            os.close(os.open(f"/dev/{device}", os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            continue
        major, minor = name.split(":")
        return int(major), int(minor)
    pytest.skip("no block device this host lets root open")


@pytest.mark.parametrize("rules", [None, []], ids=["no-resources", "no-device-rules"])
def test_without_device_rules_a_disk_made_with_mknod_cannot_be_opened(
        pyrun, make_bundle, container_id, rules):
    # runc applies its default allow-list whatever the config says: root with CAP_MKNOD
    # may make the node, not read the host's disk through it.
    major, minor = a_real_disk()
    script = (f"mknod /tmp/disk b {major} {minor} && echo made; "
              "true < /tmp/disk && echo disk-open")
    config = default_config(args=("sh", "-c", script))
    config["process"]["capabilities"] = {k: MKNOD_CAPS for k in
                                         ("bounding", "effective", "permitted")}
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    if rules is not None:
        config["linux"]["resources"] = {"devices": rules}
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.stdout.split() == ["made"], (result.stdout, result.stderr)
    assert "Operation not permitted" in result.stderr


def test_with_an_allow_rule_the_disk_opens(pyrun, make_bundle, container_id):
    """The control: the refusal above comes from the default allow-list, not the node."""
    major, minor = a_real_disk()
    script = (f"mknod /tmp/disk b {major} {minor} && echo made; "
              "true < /tmp/disk && echo disk-open")
    config = default_config(args=("sh", "-c", script))
    config["process"]["capabilities"] = {k: MKNOD_CAPS for k in
                                         ("bounding", "effective", "permitted")}
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    config["linux"]["resources"] = {"devices": [
        {"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"}]}
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.stdout.split() == ["made", "disk-open"], (result.stdout, result.stderr)

"""pyrun.linux.netlink's checks that need no kernel: names and addresses."""

import pytest

from pyrun.linux import netlink
from pyrun.linux.netlink import NetworkError


@pytest.mark.parametrize("name", ["eth0", "pyrun0", "x" * 15, "br-test.1"])
def test_valid_ifnames(name):
    assert netlink.check_ifname(name) == name


@pytest.mark.parametrize("name", ["", "x" * 16, "a/b", "a:b", "a b", ".", ".."])
def test_invalid_ifnames(name):
    with pytest.raises(NetworkError) as e:
        netlink.check_ifname(name)
    assert str(e.value) == f'interface name "{name}": invalid (1-15 characters, no / or :)'


def test_address_errors_name_the_interface():
    with pytest.raises(NetworkError) as e:
        netlink.ensure_bridge("br0", "10.0.0.1")
    assert str(e.value) == "bridge br0 address 10.0.0.1: expected an IPv4 ADDRESS/PREFIX"
    with pytest.raises(NetworkError) as e:
        netlink.create_veth_into("v0", "/nonexistent", bridge="br0", address_cidr="1.2.3.4/33",
                                 gateway=None)
    assert str(e.value) == ("eth0 in the container address 1.2.3.4/33: "
                            "expected an IPv4 ADDRESS/PREFIX")


def test_missing_namespace_is_named():
    with pytest.raises(NetworkError) as e:
        netlink.create_veth_into("v0", "/nonexistent/ns", bridge="br0",
                                 address_cidr="10.0.0.2/24", gateway="10.0.0.1")
    assert str(e.value) == "network namespace /nonexistent/ns: No such file or directory"


def test_error_is_one_line_with_what_and_reason():
    e = NetworkError("veth pyr1", "File exists")
    assert (str(e), e.what, e.reason) == ("veth pyr1: File exists", "veth pyr1", "File exists")

"""Capability names and numbers (pyrun.config.model), and which ambient capabilities
pyrun.linux.capabilities raises."""

import pytest

from pyrun.config.model import CAPABILITY_NUMBERS as NUMBERS
from pyrun.config.model import capability_number as number
from pyrun.linux.capabilities import set_ambient
from tests.fakes import FakeSyscalls


@pytest.mark.parametrize(("name", "expected"), [
    ("CAP_SYS_ADMIN", 21), ("cap_sys_admin", 21), ("Cap_Sys_Admin", 21), ("SYS_ADMIN", 21),
    ("CAP_CHOWN", 0), ("CAP_KILL", 5), ("CAP_NET_BIND_SERVICE", 10), ("CAP_NET_ADMIN", 12),
    ("CAP_SYS_CHROOT", 18), ("CAP_MKNOD", 27), ("CAP_AUDIT_WRITE", 29), ("CAP_SETFCAP", 31),
    ("CAP_SYSLOG", 34), ("CAP_AUDIT_READ", 37), ("CAP_PERFMON", 38), ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
])
def test_number(name, expected):
    assert number(name) == expected


@pytest.mark.parametrize("name", ["CAP_FOO", "FOO", "", "CAP_", "CAP_CAP_KILL"])
def test_unknown_name_is_key_error(name):
    with pytest.raises(KeyError):
        number(name)


def test_numbers_cover_0_to_40_contiguously():
    assert sorted(NUMBERS.values()) == list(range(41))
    assert len(NUMBERS) == 41


def test_names_have_no_prefix_and_are_upper_case():
    assert all(name == name.upper() and not name.startswith("CAP_") for name in NUMBERS)


def test_set_ambient_raises_only_permitted_and_inheritable():
    sc = FakeSyscalls()
    raised = set_ambient(ambient={5, 10, 12, 21}, permitted={5, 10, 21}, inheritable={10, 21, 29},
                         sc=sc)
    assert raised == {10, 21}
    assert sc.log == [("cap_ambient_clear_all",), ("cap_ambient_raise", 10),
                      ("cap_ambient_raise", 21)]


def test_set_ambient_without_inheritable_only_clears():
    # runc's own template asks for ambient capabilities without inheritable ones
    sc = FakeSyscalls()
    assert set_ambient(ambient={5, 10, 29}, permitted={5, 10, 29}, inheritable=set(),
                       sc=sc) == set()
    assert sc.log == [("cap_ambient_clear_all",)]


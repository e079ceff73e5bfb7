"""pyrun.runtime.seccompcache: what is kept, under which key, and what is refused."""

import os

import pytest

from pyrun.linux import seccomp
from pyrun.runtime import seccompcache
from tests.seccomp_profiles import Arg, Rule, deny


@pytest.fixture
def cache(tmp_path, monkeypatch):
    where = tmp_path / "cache"
    where.mkdir(mode=0o700)
    monkeypatch.setenv("PYRUN_SECCOMP_CACHE", str(where))
    return where


def program(flags=0, notify=False):
    return seccomp.Program(bytes(range(16)), flags, notify)


def test_a_kept_program_comes_back_whole(cache):
    profile = deny("mkdir")
    seccompcache.keep(seccomp, profile, program(flags=5, notify=True))
    back = seccompcache.load(seccomp, profile)
    assert (back.bpf, back.flags, back.uses_notify) == (bytes(range(16)), 5, True)
    assert [p.name for p in cache.iterdir()] == [seccompcache.key(seccomp, profile)]


@pytest.mark.parametrize("change", [
    lambda p: p.syscalls[0].names.append("rmdir"),
    lambda p: setattr(p.syscalls[0], "errno_ret", 2),
    lambda p: p.syscalls[0].args.append(Arg(0, 1, "SCMP_CMP_EQ")),
    lambda p: setattr(p, "default_action", "SCMP_ACT_LOG"),
    lambda p: p.architectures.append("SCMP_ARCH_X86"),
    lambda p: p.flags.append("SECCOMP_FILTER_FLAG_LOG"),
    lambda p: p.syscalls.append(Rule(["rmdir"], "SCMP_ACT_ERRNO")),
])
def test_any_change_the_filter_depends_on_changes_the_key(change):
    profile = deny("mkdir")
    before = seccompcache.key(seccomp, profile)
    change(profile)
    assert seccompcache.key(seccomp, profile) != before


def test_the_listener_does_not_change_the_key():
    profile = deny("mkdir")
    before = seccompcache.key(seccomp, profile)
    profile.listener_path, profile.listener_metadata = "/run/agent.sock", "meta"
    assert seccompcache.key(seccomp, profile) == before


@pytest.mark.parametrize("damage", [
    lambda data: data[:-1],                       # truncated
    lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # a bit of the program flipped
    lambda data: b"X" + data[1:],                 # not our magic
    lambda data: data[:len(seccompcache.MAGIC) + seccompcache.HEADER_SIZE],  # no program
])
def test_a_damaged_file_is_a_miss(cache, damage):
    profile = deny("mkdir")
    seccompcache.keep(seccomp, profile, program())
    path = cache / seccompcache.key(seccomp, profile)
    path.write_bytes(damage(path.read_bytes()))
    assert seccompcache.load(seccomp, profile) is None


def test_a_directory_others_may_write_is_not_used(cache):
    profile = deny("mkdir")
    seccompcache.keep(seccomp, profile, program())
    cache.chmod(0o777)
    assert seccompcache.load(seccomp, profile) is None
    seccompcache.keep(seccomp, deny("rmdir"), program())
    assert len(list(cache.iterdir())) == 1


def test_off_keeps_nothing(cache, monkeypatch):
    monkeypatch.setenv("PYRUN_SECCOMP_CACHE", "off")
    seccompcache.keep(seccomp, deny("mkdir"), program())
    assert seccompcache.load(seccomp, deny("mkdir")) is None
    assert not list(cache.iterdir())


def test_an_unwritable_directory_costs_only_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRUN_SECCOMP_CACHE", str(tmp_path / "a-file" / "cache"))
    (tmp_path / "a-file").write_text("")
    seccompcache.keep(seccomp, deny("mkdir"), program())  # no error
    assert seccompcache.load(seccomp, deny("mkdir")) is None


def test_at_most_max_kept_the_least_recently_used_go(cache, monkeypatch):
    monkeypatch.setattr(seccompcache, "MAX_KEPT", 3)
    profiles = [deny(f"name{i}") for i in range(5)]
    for i, profile in enumerate(profiles):
        seccompcache.keep(seccomp, profile, program())
        os.utime(cache / seccompcache.key(seccomp, profile), (i, i))
    seccompcache.keep(seccomp, deny("last"), program())
    left = {p.name for p in cache.iterdir()}
    assert left == {seccompcache.key(seccomp, p) for p in (*profiles[3:], deny("last"))}

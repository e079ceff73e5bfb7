"""The v2 device filter program, run in a small interpreter of the opcodes it uses, must
decide exactly as the rules read (last match wins, default deny), for many devices."""

import itertools
import struct

import pytest

from pyrun.config.defaults import DEFAULT_DEVICE_RULES as DEFAULT_ALLOWED
from pyrun.config.defaults import effective_rules
from pyrun.config.model_linux import DeviceRule
from pyrun.linux.cgroups.devices import V1State, v1_transition, v2_program

ACCESS = {"m": 1, "r": 2, "w": 4}
TYPES = {"c": 2, "b": 1}


def run_program(program: bytes, kind: str, major: int, minor: int, access: str) -> int:
    """Interpret the few eBPF instructions v2_program emits (all on 32-bit values)."""
    ctx = [sum(ACCESS[a] for a in access) << 16 | TYPES[kind], major, minor]
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", program[i:i + 8]) for i in range(0, len(program), 8)]
    while True:
        code, regs_byte, off, imm = insns[pc]
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == 0x61:
            regs[dst] = ctx[off // 4]
        elif code == 0x54:
            regs[dst] &= imm & 0xFFFFFFFF
        elif code == 0x74:
            regs[dst] >>= imm
        elif code == 0xBC:
            regs[dst] = regs[src]
        elif code == 0xB4:
            regs[dst] = imm
        elif code == 0x55:
            pc += off if regs[dst] != imm else 0
        elif code == 0x5D:
            pc += off if regs[dst] != regs[src] else 0
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def reference(rules, kind, major, minor, access) -> int:
    """The rules read directly: the last rule that matches decides."""
    verdict = 0
    for rule in rules:
        if rule.kind not in ("a", kind):
            continue
        if rule.major not in (None, major) or rule.minor not in (None, minor):
            continue
        if not set(access) <= set(rule.access):
            continue
        verdict = 1 if rule.allow else 0
    return verdict


RULE_SETS = {
    "runc-defaults": effective_rules([], []),
    "deny-all-then-one": [DeviceRule(False), DeviceRule(True, "c", 1, 3, "rw")],
    "allow-all-but-one": [DeviceRule(True), DeviceRule(False, "b", 8, None, "rwm")],
    "configured-and-created": effective_rules([DeviceRule(True, "c", 10, 200, "rwm")],
                                              [("c", 10, 229)]),
}


@pytest.mark.parametrize("name", sorted(RULE_SETS))
def test_program_decides_like_the_rules(name):
    rules = RULE_SETS[name]
    program = v2_program(rules)
    devices = [(k, ma, mi) for k in "cb" for ma in (1, 5, 8, 10, 136) for mi in (0, 1, 3, 200, 229)]
    accesses = ["".join(a) for n in (1, 2, 3) for a in itertools.combinations("mrw", n)]
    for (kind, major, minor), access in itertools.product(devices, accesses):
        assert run_program(program, kind, major, minor, access) == \
            reference(rules, kind, major, minor, access), (kind, major, minor, access)


def test_defaults_allow_dev_null_and_refuse_dev_mem():
    program = v2_program(effective_rules([], []))
    assert run_program(program, "c", 1, 3, "rw") == 1
    assert run_program(program, "c", 1, 1, "r") == 0  # /dev/mem
    assert run_program(program, "b", 8, 0, "m") == 1  # mknod of anything, as runc
    assert DEFAULT_ALLOWED[0].access == "m"


# --- v1 updates: from one allow-list to another without denying what both allow ----------


def test_v1_state_follows_the_kernels_rules():
    state = V1State([DeviceRule(False), DeviceRule(True, "c", 1, 3),
                     DeviceRule(True, "c", 1, 3, access="m"), DeviceRule(True, "c", None, None,
                                                                         "m")])
    assert not state.default_allow
    assert state.exceptions == {("c", 1, 3): {"r", "w", "m"}, ("c", "*", "*"): {"m"}}
    state.apply(DeviceRule(False, "c", 1, 3, access="w"))
    assert state.exceptions[("c", 1, 3)] == {"r", "m"}


def test_a_transition_adds_before_it_removes_and_never_denies_everything():
    old = effective_rules([DeviceRule(True, "c", 10, 237)], [])
    new = effective_rules([DeviceRule(True, "c", 10, 200, access="rw")], [])
    writes = v1_transition(V1State(old), V1State(new))
    assert writes == [(True, "c 10:200 rw"), (False, "c 10:237 rwm")]
    assert (False, "a") not in writes


def test_a_transition_to_the_same_list_writes_nothing():
    rules = effective_rules([DeviceRule(True, "b", 8, 0, access="r")], [("c", 10, 229)])
    assert v1_transition(V1State(rules), V1State(rules)) == []


def test_a_transition_that_changes_the_default_starts_over():
    old = effective_rules([], [])
    new = [DeviceRule(True), DeviceRule(False, "b", 8, 0)]
    assert v1_transition(V1State(old), V1State(new)) == [(True, "a"), (False, "b 8:0 rwm")]

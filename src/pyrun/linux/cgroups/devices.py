"""The device allow-list of a cgroup, as the kernel takes it: v1's devices.allow and
devices.deny lines, or v2's eBPF program.

The rules (pyrun.config.model.DeviceRule, read by attribute: allow, kind, major, minor,
access; the full list comes from pyrun.config.defaults.device_allow_list) apply in order
and the last match wins, as the kernel's v1 devices controller (and runc) read them.
"""


def v1_line(rule) -> str:
    """The devices.allow / devices.deny syntax: 'c 1:3 rwm', or 'a' for everything."""
    if rule.kind == "a":
        return "a"
    major = "*" if rule.major is None else str(rule.major)
    minor = "*" if rule.minor is None else str(rule.minor)
    return f"{rule.kind} {major}:{minor} {rule.access}"


# --- cgroup v2: the same rules as an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE)
#
# The kernel calls the program on each open or mknod of a device node with a
# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, where
# access_type = access << 16 | type (include/uapi/linux/bpf.h: BPF_DEVCG_*). It returns 1
# to allow, 0 to deny. Rules are checked last first, so the last match wins, as on v1.

_DEV_TYPE = {"c": 2, "b": 1}  # BPF_DEVCG_DEV_CHAR, BPF_DEVCG_DEV_BLOCK
_ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# Opcodes (include/uapi/linux/bpf_common.h, bpf.h)
_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K (32-bit)
_RSH_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_MOV_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
_MOV_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_EXIT = 0x95  # BPF_JMP | BPF_EXIT


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """struct bpf_insn: u8 code, u8 dst:4 src:4, s16 off, s32 imm (little endian)."""
    import struct

    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def v2_program(rules) -> bytes:
    """The eBPF program for `rules`: r2 = type, r3 = access, r4 = major, r5 = minor."""
    prologue = [
        _insn(_LDX_W, dst=2, src=1, off=0), _insn(_AND_K, dst=2, imm=0xFFFF),
        _insn(_LDX_W, dst=3, src=1, off=0), _insn(_RSH_K, dst=3, imm=16),
        _insn(_LDX_W, dst=4, src=1, off=4),
        _insn(_LDX_W, dst=5, src=1, off=8),
    ]
    body = []
    for rule in reversed(rules):
        block = _rule_block(rule)
        body += block
        if len(block) == 2:
            # A rule that matches everything (a deny-all, usually the first): nothing after
            # it can run, and the verifier refuses unreachable instructions.
            return b"".join(prologue + body)
    deny_rest = [_insn(_MOV_K, dst=0, imm=0), _insn(_EXIT)]
    return b"".join(prologue + body + deny_rest)


def _rule_block(rule) -> list[bytes]:
    """Checks that jump past this block on a mismatch, then return allow or deny."""
    checks: list[tuple] = []  # (opcodes before the jump, register, value)
    if rule.kind != "a":
        checks.append(([], 2, _DEV_TYPE[rule.kind]))
    access = sum(_ACCESS_BITS[c] for c in set(rule.access))
    if access != 7:
        # the access asked must be within the rule's: (asked & rule) == asked
        checks.append(([_insn(_MOV_X, dst=1, src=3), _insn(_AND_K, dst=1, imm=access)], None,
                       None))
    if rule.major is not None:
        checks.append(([], 4, rule.major))
    if rule.minor is not None:
        checks.append(([], 5, rule.minor))
    verdict = [_insn(_MOV_K, dst=0, imm=1 if rule.allow else 0), _insn(_EXIT)]
    body: list[bytes] = []
    for prefix, register, value in checks:
        body += prefix
        if register is None:  # the access check compares r1 with r3: JNE X
            body.append(("JNE_X", 1, 3))
        else:
            body.append(("JNE_K", register, value))
    # Resolve the jumps: each skips to the end of this block.
    out = []
    total = len(body) + len(verdict)
    for index, item in enumerate(body):
        if isinstance(item, tuple):
            kind, register, value = item
            skip = total - index - 1
            if kind == "JNE_X":
                out.append(_insn(0x5D, dst=register, src=value, off=skip))  # BPF_JNE | BPF_X
            else:
                out.append(_insn(_JNE_K, dst=register, off=skip, imm=value))
        else:
            out.append(item)
    return out + verdict

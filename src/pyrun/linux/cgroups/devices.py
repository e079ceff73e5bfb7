"""The device allow-list of a cgroup, as the kernel takes it: v1's devices.allow and
devices.deny lines, or v2's eBPF program.

The rules (pyrun.config.model.DeviceRule, read by attribute: allow, kind, major, minor,
access; the full list comes from pyrun.config.defaults.device_allow_list) apply in order
and the last match wins, as the kernel's v1 devices controller (and runc) read them.
"""


class V1State:
    """What the v1 devices controller holds after a list of rules (the kernel's
    devcgroup_update_access): a default (allow or deny everything) and exceptions keyed
    exactly by (type, major, minor), with '*' kept as a key of its own. runc's emulator
    does the same, to change one list into another without a moment where everything is
    denied (libcontainer/cgroups/devices: Emulator.Transition)."""

    def __init__(self, rules=()):
        self.default_allow = True  # a new v1 cgroup allows everything
        self.exceptions: dict[tuple, set[str]] = {}
        for rule in rules:
            self.apply(rule)

    def apply(self, rule) -> None:
        if rule.kind == "a":
            self.default_allow, self.exceptions = rule.allow, {}
            return
        key = (rule.kind, "*" if rule.major is None else rule.major,
               "*" if rule.minor is None else rule.minor)
        access = set(rule.access)
        if rule.allow != self.default_allow:  # an exception to the default: add it
            self.exceptions.setdefault(key, set()).update(access)
        elif key in self.exceptions:  # the default again: take the exception away
            self.exceptions[key] -= access
            if not self.exceptions[key]:
                del self.exceptions[key]


def v1_transition(current: V1State, target: V1State) -> list[tuple[bool, str]]:
    """(allow?, line) writes that turn `current` into `target`: the default first only if
    it changes (then everything is denied for a moment, as with runc); else new exceptions
    before old ones go, so what both allow stays allowed throughout."""
    if current.default_allow != target.default_allow:
        writes = [(target.default_allow, "a")]
        writes += [(not target.default_allow, _line(key, access))
                   for key, access in target.exceptions.items()]
        return writes
    exception = not target.default_allow  # an exception allows under deny-all
    add, remove = [], []
    for key, access in target.exceptions.items():
        missing = access - current.exceptions.get(key, set())
        if missing:
            add.append((exception, _line(key, missing)))
    for key, access in current.exceptions.items():
        extra = access - target.exceptions.get(key, set())
        if extra:
            remove.append((not exception, _line(key, extra)))
    return add + remove


def _line(key: tuple, access: set[str]) -> str:
    kind, major, minor = key
    return f"{kind} {major}:{minor} {''.join(a for a in 'rwm' if a in access)}"


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

"""Seccomp: compile an OCI seccomp profile into a libseccomp filter, and load it.

The input is any object shaped like `linux.seccomp` of config.json (the config model has
exactly these attributes; this module never imports it):

    profile.default_action: str          "SCMP_ACT_ERRNO", ... (see ACTIONS)
    profile.default_errno_ret: int|None  errno of the default action (ERRNO/TRACE only)
    profile.architectures: list[str]     "SCMP_ARCH_X86_64", ... (see ARCHITECTURES)
    profile.flags: list[str]             see FLAGS
    profile.listener_path: str           not used here: see send_listener_state()
    profile.listener_metadata: str       idem
    profile.syscalls: list[rule]
        rule.names: list[str]; rule.action: str; rule.errno_ret: int|None
        rule.args: list[arg]
            arg.index: int (0..5); arg.value: int; arg.value_two: int; arg.op: str (OPERATORS)

    filt = compile(profile)     # in memory only; SeccompError names the offending field
    prog = filt.program()       # the BPF libseccomp generates, and the seccomp(2) flags
    notify_fd = prog.load()     # into the calling process: do this in the container's init

A Program is plain bytes: it can be kept and loaded later, by another process, without
libseccomp generating it again (pyrun.runtime.seccompcache keys it by fingerprint()).

Semantics follow runc (libcontainer/seccomp): syscall names this libseccomp does not know
are skipped (`Filter.skipped` lists them), a rule whose action equals the default action
is skipped, SCMP_ACT_ERRNO and SCMP_ACT_TRACE return EPERM unless errnoRet says otherwise.
Where runc is silent, the runtime spec decides: errnoRet on any other action is an error.

The name tables cost nothing to import; libseccomp itself (pyrun._seccomp) is loaded on
first use, or by preload(): the init must call it before pivot_root, after which Python
can no longer find extension modules.
"""

import errno
import os

from pyrun.linux.seccomp.program import (  # noqa: F401 (this package's API)
    PROFILE,
    Program,
    SeccompError,
    kernel_flags,
    send_listener_state,
)

# Names as the runtime spec (config-linux.md) lists them, which are libseccomp's.
ACTIONS = (
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
)
OPERATORS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
ARCHITECTURES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
)
FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)

# The actions whose 16 data bits carry an errno (for TRACE: a message to the tracer).
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
DEFAULT_ERRNO = errno.EPERM  # runtime spec and runc, for both ERRNO and TRACE
MAX_ARGS = 6  # a system call has at most six arguments
# runc's threshold for libseccomp's binary-tree dispatch (libseccomp <= 2.5.4 misbehaves
# with the tree and no rules; it builds nodes of four syscalls).
BINARY_TREE_ABOVE = 32

_ffi = _lib = None


def preload():
    """Load libseccomp now (idempotent); returns the cffi lib."""
    global _ffi, _lib
    if _lib is None:
        from pyrun._seccomp import ffi, lib

        _ffi, _lib = ffi, lib
    return _lib


def version() -> str:
    """The version of the libseccomp pyrun runs with, e.g. "2.5.4"."""
    v = preload().seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def api_level() -> int:
    """libseccomp's API level for this library and kernel (seccomp_api_get(3)): 6 means
    SCMP_ACT_NOTIFY works together with thread sync."""
    return preload().seccomp_api_get()


def supported_actions() -> list[str]:
    """The actions this libseccomp and kernel accept (seccomp_init probes the kernel)."""
    lib = preload()
    found = []
    for name in ACTIONS:
        ctx = lib.seccomp_init(_action_word(lib, name, None))
        if ctx:
            lib.seccomp_release(ctx)
            found.append(name)
    return found


def supported_flags() -> list[str]:
    """The flags this libseccomp and kernel can set (libseccomp probes the kernel)."""
    lib = preload()
    ctx = lib.seccomp_init(lib.SCMP_ACT_ALLOW)
    try:
        return [flag for flag, attr in ((flag, _flag_attr(lib, flag)) for flag in FLAGS)
                if attr >= 0 and lib.seccomp_attr_set(ctx, attr, 1) == 0]
    finally:
        lib.seccomp_release(ctx)


def supported_architectures() -> list[str]:
    """The architectures this libseccomp knows."""
    lib = preload()
    return [arch for arch in ARCHITECTURES if lib.seccomp_arch_resolve_name(_arch_name(arch))]


class Filter:
    """A compiled filter, in libseccomp's memory until program(). `skipped`: syscall names
    this libseccomp does not know, left out as runc does."""

    def __init__(self, ctx, uses_notify: bool, skipped: list[str], flags=()):
        self._ctx = ctx
        self.uses_notify = uses_notify
        self.skipped = skipped
        self.flags = list(flags)

    def program(self) -> Program:
        """The BPF libseccomp generates for this filter (seccomp_export_bpf), with the
        flags its seccomp_load would use."""
        lib = preload()
        if self._ctx is None:
            raise SeccompError(PROFILE, "the filter was released")
        fd = os.memfd_create("pyrun-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(self._ctx, fd)
            if rc < 0:
                raise SeccompError(PROFILE, f"generating the filter: {os.strerror(-rc)}")
            bpf = os.pread(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)
        return Program(bpf, kernel_flags(self.flags, self.uses_notify), self.uses_notify)

    def load(self) -> int | None:
        """program().load(): see Program.load."""
        return self.program().load()

    def release(self) -> None:
        """Free libseccomp's copy of the filter; a loaded filter stays in the kernel."""
        if self._ctx is not None:
            preload().seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def fingerprint(profile) -> bytes:
    """Everything of `profile` the filter depends on, as bytes that differ whenever the
    filter may (the listener's path and metadata do not count). With version() and the
    kernel's release it keys a kept Program: same key, same BPF."""
    rules = [(rule.names, rule.action, rule.errno_ret,
              [(arg.index, arg.value, arg.value_two, arg.op) for arg in rule.args])
             for rule in profile.syscalls]
    return repr((profile.default_action, profile.default_errno_ret, profile.architectures,
                 profile.flags, rules)).encode()


def compile(profile) -> Filter:
    """Build the filter for `profile` in memory; SeccompError names the field at fault.
    (This module never needs the builtin compile() that the name hides.)"""
    lib = preload()
    default = _default_action(lib, profile)
    rules = [_check_rule(lib, i, rule) for i, rule in enumerate(profile.syscalls)]
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError(f"{PROFILE}.defaultAction",
                           f"{profile.default_action} is not supported by this kernel")
    filt = Filter(ctx, uses_notify=False, skipped=[], flags=profile.flags)
    try:
        _set_attributes(lib, ctx, sum(len(rule.names) for rule in profile.syscalls))
        _add_architectures(lib, ctx, profile.architectures)
        _set_flags(lib, ctx, profile.flags)
        for i, (rule, action, conditions) in enumerate(rules):
            if action != default:  # libseccomp refuses it (EACCES); runc skips it
                _add_rule(lib, ctx, filt, i, rule, action, conditions)
    except BaseException:
        filt.release()
        raise
    return filt


def _default_action(lib, profile) -> int:
    name = profile.default_action
    word = _checked_action(lib, name, profile.default_errno_ret, f"{PROFILE}.defaultAction",
                           f"{PROFILE}.defaultErrnoRet")
    if name == "SCMP_ACT_NOTIFY":
        # As runc: every syscall of the init would wait for an agent that has no fd yet.
        raise SeccompError(f"{PROFILE}.defaultAction",
                           "SCMP_ACT_NOTIFY cannot be the default action")
    return word


def _check_rule(lib, i: int, rule):
    """Validate one `syscalls` entry; returns (rule, action word, condition groups)."""
    where = f"{PROFILE}.syscalls[{i}]"
    action = _checked_action(lib, rule.action, rule.errno_ret, f"{where}.action",
                             f"{where}.errnoRet")
    if not rule.names:
        raise SeccompError(f"{where}.names", "must name at least one syscall")
    for j, name in enumerate(rule.names):
        if not isinstance(name, str) or not name:
            raise SeccompError(f"{where}.names[{j}]", "expected a syscall name")
    for k, arg in enumerate(rule.args):
        _check_arg(f"{where}.args[{k}]", arg)
    return rule, action, split_conditions(rule.args)


def _checked_action(lib, name: str, errno_ret, what: str, errno_what: str) -> int:
    if name not in ACTIONS:
        raise SeccompError(what, f"unknown action {name!r}")
    if errno_ret is not None:
        if name not in ERRNO_ACTIONS:
            # runtime spec: "When the action doesn't support an errno, the runtime MUST
            # print and error and fail."
            raise SeccompError(errno_what, f"{name} takes no errno (only SCMP_ACT_ERRNO and "
                                           "SCMP_ACT_TRACE do)")
        if not _is_int(errno_ret) or not 0 <= errno_ret <= 0xFFFF:
            # the kernel keeps 16 bits (SECCOMP_RET_DATA): larger values would wrap
            raise SeccompError(errno_what, f"expected an integer from 0 to 65535, got "
                                           f"{errno_ret!r}")
    return _action_word(lib, name, errno_ret)


def _action_word(lib, name: str, errno_ret: int | None) -> int:
    code = DEFAULT_ERRNO if errno_ret is None else errno_ret
    match name:
        case "SCMP_ACT_ERRNO":
            return lib.pyrun_act_errno(code)
        case "SCMP_ACT_TRACE":
            return lib.pyrun_act_trace(code)
        case "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD":
            return lib.SCMP_ACT_KILL_THREAD
    return getattr(lib, name)


def _check_arg(where: str, arg) -> None:
    if not _is_int(arg.index) or not 0 <= arg.index < MAX_ARGS:
        raise SeccompError(f"{where}.index", f"expected 0 to {MAX_ARGS - 1}, got {arg.index!r}")
    if arg.op not in OPERATORS:
        raise SeccompError(f"{where}.op", f"unknown operator {arg.op!r}")
    for field, value in (("value", arg.value), ("valueTwo", arg.value_two)):
        if not _is_int(value) or not 0 <= value < 1 << 64:
            raise SeccompError(f"{where}.{field}", f"expected a 64-bit unsigned integer, "
                                                   f"got {value!r}")


def split_conditions(args: list) -> list[list]:
    """The argument comparisons of one rule, grouped into the rules libseccomp gets.

    All of them in one rule (a logical AND), as runc does; but when two compare the same
    argument, runc falls back to its older behaviour, one rule per comparison (a logical OR),
    because libseccomp cannot AND two comparisons of one argument. Profiles rely on that:
    Docker's allows personality(2) for any of five values by five EQ on argument 0.
    """
    if not args:
        return [[]]
    indexes = [arg.index for arg in args]
    if len(set(indexes)) == len(indexes):
        return [list(args)]
    return [[arg] for arg in args]


def _set_attributes(lib, ctx, rule_count: int) -> None:
    # no_new_privs is the container's `noNewPrivileges`, which the init applies itself;
    # left on, seccomp_load would set it for every container.
    _attr(lib, ctx, lib.SCMP_FLTATR_CTL_NNP, 0, "no_new_privs off")
    # The kernel's own errno for a failed load, rather than libseccomp's ECANCELED.
    _attr(lib, ctx, lib.SCMP_FLTATR_API_SYSRAWRC, 1, "raw return codes")
    if rule_count > BINARY_TREE_ABOVE:
        # Faster dispatch for long lists; optional, so a library without it is fine.
        lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_OPTIMIZE, 2)


def _attr(lib, ctx, attr: int, value: int, what: str) -> None:
    rc = lib.seccomp_attr_set(ctx, attr, value)
    if rc < 0:
        raise SeccompError(PROFILE, f"libseccomp {version()}: setting {what}: "
                                    f"{os.strerror(-rc)}")


def _add_architectures(lib, ctx, architectures: list[str]) -> None:
    """Add each architecture; the native one stays, as libseccomp puts it there."""
    for i, arch in enumerate(architectures):
        what = f"{PROFILE}.architectures[{i}]"
        if arch not in ARCHITECTURES:
            raise SeccompError(what, f"unknown architecture {arch!r}")
        token = lib.seccomp_arch_resolve_name(_arch_name(arch))
        if not token:
            raise SeccompError(what, f"{arch} is not supported by libseccomp {version()}")
        rc = lib.seccomp_arch_add(ctx, token)
        if rc == -errno.EDOM:
            raise SeccompError(what, f"{arch} has another byte order than this machine's "
                                     "architecture: one filter cannot hold both")
        if rc < 0 and rc != -errno.EEXIST:  # EEXIST: the native one, or listed twice
            raise SeccompError(what, f"adding {arch}: {os.strerror(-rc)}")


def _arch_name(arch: str) -> bytes:
    """"SCMP_ARCH_X86_64" -> b"x86_64", the name seccomp_arch_resolve_name(3) takes."""
    return arch.removeprefix("SCMP_ARCH_").lower().encode()


def _set_flags(lib, ctx, flags: list[str]) -> None:
    for i, flag in enumerate(flags):
        what = f"{PROFILE}.flags[{i}]"
        if flag not in FLAGS:
            raise SeccompError(what, f"unknown flag {flag!r}")
        attr = _flag_attr(lib, flag)
        if attr < 0:
            raise SeccompError(what, f"{flag} needs libseccomp 2.6 or later at build time")
        rc = lib.seccomp_attr_set(ctx, attr, 1)
        if rc < 0:
            raise SeccompError(what, f"{flag} is not supported by this kernel or libseccomp "
                                     f"{version()}: {os.strerror(-rc)}")


def _flag_attr(lib, flag: str) -> int:
    """The libseccomp filter attribute that sets `flag`; -1 if this build has none."""
    return {
        "SECCOMP_FILTER_FLAG_TSYNC": lib.SCMP_FLTATR_CTL_TSYNC,
        "SECCOMP_FILTER_FLAG_LOG": lib.SCMP_FLTATR_CTL_LOG,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW": lib.SCMP_FLTATR_CTL_SSB,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": lib.PYRUN_FLTATR_CTL_WAITKILL,
    }[flag]


def _add_rule(lib, ctx, filt: Filter, i: int, rule, action: int, groups: list[list]) -> None:
    for j, name in enumerate(rule.names):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == lib.__NR_SCMP_ERROR:
            # Not in this libseccomp's tables: runc assumes the kernel lacks it too.
            filt.skipped.append(name)
            continue
        for group in groups:
            conditions = _ffi.new("struct scmp_arg_cmp[]", [
                (arg.index, getattr(lib, arg.op), arg.value, arg.value_two) for arg in group
            ]) if group else _ffi.NULL
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), conditions)
            if rc < 0:
                raise SeccompError(f"{PROFILE}.syscalls[{i}].names[{j}]",
                                   f"libseccomp refused the rule for {name}: "
                                   f"{os.strerror(-rc)}")
        if rule.action == "SCMP_ACT_NOTIFY":
            filt.uses_notify = True


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

"""The `process` object (config.json's, or `exec --process` JSON) into the model."""

from pyrun.config.fields import (
    UINT32_MAX,
    absolute,
    array,
    boolean,
    fail,
    integer,
    obj,
    string,
    strings,
    unique_type,
)
from pyrun.config.model import (
    CAPABILITY_NUMBERS,
    CAPABILITY_SETS,
    RLIMIT_NAMES,
    CPUAffinity,
    IOPriority,
    Process,
    Rlimit,
    Scheduler,
    User,
)
from pyrun.errors import NotSupportedYet, warn

IO_PRIORITY_CLASSES = ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE")
SCHED_POLICIES = ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO",
                  "SCHED_IDLE", "SCHED_DEADLINE")
SCHED_FLAGS = ("SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
               "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
               "SCHED_FLAG_UTIL_CLAMP_MAX")


def parse_process(value, path: str = "process") -> Process:
    """Validate a `process` object (config.json's, or `exec --process` JSON)."""
    obj(path, value)
    args = strings(f"{path}.args", value.get("args", []))
    if not args:
        fail(f"{path}.args", "must name a program to run")
    if not args[0]:
        fail(f"{path}.args[0]", "empty program name")
    env = strings(f"{path}.env", value.get("env", []))
    for i, entry in enumerate(env):
        if "=" not in entry or entry.startswith("="):
            fail(f"{path}.env[{i}]", f'"{entry}" is not NAME=value')
    if "cwd" not in value:
        fail(f"{path}.cwd", "missing")
    size = value.get("consoleSize")
    console_size = None
    if size is not None:
        obj(f"{path}.consoleSize", size)
        console_size = (integer(f"{path}.consoleSize.height", size.get("height", 0), 0, 65535),
                        integer(f"{path}.consoleSize.width", size.get("width", 0), 0, 65535))
    oom = value.get("oomScoreAdj")
    return Process(
        args=args,
        env=env,
        cwd=absolute(f"{path}.cwd", value["cwd"]),
        user=_user(f"{path}.user", value.get("user", {})),
        terminal=boolean(f"{path}.terminal", value.get("terminal", False)),
        console_size=console_size,
        capabilities=parse_capabilities(value.get("capabilities"), f"{path}.capabilities"),
        rlimits=_rlimits(f"{path}.rlimits", value.get("rlimits", [])),
        no_new_privileges=boolean(f"{path}.noNewPrivileges", value.get("noNewPrivileges", False)),
        oom_score_adj=None if oom is None else integer(f"{path}.oomScoreAdj", oom, -1000, 1000),
        apparmor_profile=string(f"{path}.apparmorProfile", value.get("apparmorProfile", "")),
        selinux_label=string(f"{path}.selinuxLabel", value.get("selinuxLabel", "")),
        io_priority=_io_priority(f"{path}.ioPriority", value.get("ioPriority")),
        scheduler=_scheduler(f"{path}.scheduler", value.get("scheduler")),
        exec_cpu_affinity=_cpu_affinity(f"{path}.execCPUAffinity",
                                        value.get("execCPUAffinity")),
    )


NGROUPS_MAX = 65536


def _user(path: str, value) -> User:
    obj(path, value)
    umask = value.get("umask")
    gids = array(f"{path}.additionalGids", value.get("additionalGids", []))
    if len(gids) > NGROUPS_MAX:
        fail(f"{path}.additionalGids", f"{len(gids)} groups: at most {NGROUPS_MAX} (the kernel's "
             "NGROUPS_MAX)")
    if "username" in value:
        raise NotSupportedYet(f"config.json: {path}.username (Windows only)")
    return User(
        uid=integer(f"{path}.uid", value.get("uid", 0), 0, UINT32_MAX),
        gid=integer(f"{path}.gid", value.get("gid", 0), 0, UINT32_MAX),
        umask=None if umask is None else integer(f"{path}.umask", umask, 0, 0o7777),
        additional_gids=[integer(f"{path}.additionalGids[{i}]", g, 0, UINT32_MAX)
                         for i, g in enumerate(gids)],
    )


def parse_capabilities(value, path: str = "process.capabilities") -> dict | None:
    """Unknown names are dropped with a warning: the spec says runtimes SHOULD NOT fail
    on capabilities they cannot grant, and MUST log them."""
    if value is None:
        return None
    obj(path, value)
    caps = {}
    for name in CAPABILITY_SETS:
        known = []
        for i, cap in enumerate(strings(f"{path}.{name}", value.get(name, []))):
            if cap.upper().startswith("CAP_") and cap[4:].upper() in CAPABILITY_NUMBERS:
                known.append(cap.upper())
            else:
                warn(f'config.json: {path}.{name}[{i}]: unknown capability "{cap}" ignored')
        caps[name] = known
    return caps


def _rlimits(path: str, value) -> list[Rlimit]:
    seen = set()
    limits = []
    for i, item in enumerate(array(path, value)):
        where = f"{path}[{i}]"
        kind = unique_type(where, item, RLIMIT_NAMES, seen, "rlimit")
        soft = integer(f"{where}.soft", item.get("soft"), 0, 2**64 - 1)
        hard = integer(f"{where}.hard", item.get("hard"), 0, 2**64 - 1)
        if soft > hard:
            fail(where, f"{kind}: soft limit {soft} is above hard limit {hard}")
        limits.append(Rlimit(kind, soft, hard))
    return limits


def _io_priority(path: str, value) -> IOPriority | None:
    if value is None:
        return None
    obj(path, value)
    io_class = string(f"{path}.class", value.get("class"))
    if io_class not in IO_PRIORITY_CLASSES:
        fail(f"{path}.class", f'"{io_class}" is not one of {", ".join(IO_PRIORITY_CLASSES)}')
    return IOPriority(io_class, integer(f"{path}.priority", value.get("priority", 0), 0, 7))


def _scheduler(path: str, value) -> Scheduler | None:
    if value is None:
        return None
    obj(path, value)
    policy = string(f"{path}.policy", value.get("policy"))
    if policy not in SCHED_POLICIES:
        fail(f"{path}.policy", f'"{policy}" is not one of {", ".join(SCHED_POLICIES)}')
    if policy == "SCHED_ISO":
        raise NotSupportedYet(f"config.json: {path}.policy SCHED_ISO (no mainline kernel)")
    flags = strings(f"{path}.flags", value.get("flags", []))
    for i, flag in enumerate(flags):
        if flag not in SCHED_FLAGS:
            fail(f"{path}.flags[{i}]", f'unknown flag "{flag}"')
    u64 = 2**64 - 1
    return Scheduler(policy,
                     nice=integer(f"{path}.nice", value.get("nice", 0), -20, 19),
                     priority=integer(f"{path}.priority", value.get("priority", 0), 0, 99),
                     flags=flags,
                     runtime=integer(f"{path}.runtime", value.get("runtime", 0), 0, u64),
                     deadline=integer(f"{path}.deadline", value.get("deadline", 0), 0, u64),
                     period=integer(f"{path}.period", value.get("period", 0), 0, u64))


def _cpu_affinity(path: str, value) -> CPUAffinity | None:
    if value is None:
        return None
    obj(path, value)
    lists = {}
    for key in ("initial", "final"):
        text = string(f"{path}.{key}", value.get(key, ""))
        if text:
            cpu_set(f"{path}.{key}", text)
        lists[key] = text
    return CPUAffinity(lists["initial"], lists["final"])


def cpu_set(path: str, text: str) -> set[int]:
    """"0-3,7" -> {0, 1, 2, 3, 7}, as cpuset(7)'s list format; an error names `path`."""
    cpus = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            fail(path, f'"{text}" is not a CPU list like "0-3,7"')
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            fail(path, f'"{text}": the range {part} runs backwards')
        cpus.update(range(first, last + 1))
    return cpus

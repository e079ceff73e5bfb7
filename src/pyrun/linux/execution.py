"""How the container's process executes: its execution domain (personality(2)), CPU
scheduling policy (sched_setattr(2)), I/O priority (ioprio_set(2)) and CPUs
(sched_setaffinity(2)). Names are the runtime spec's (config.md: "process", config-linux.md:
"personality"); every call goes through `sc`."""

from pyrun.linux import syscalls as real_syscalls

PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}  # PER_LINUX, PER_LINUX32
IO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}


def set_personality(domain: str, sc=real_syscalls) -> None:
    sc.personality(PERSONALITIES[domain])


def set_io_priority(io_class: str, level: int, sc=real_syscalls) -> None:
    sc.ioprio_set_self(IO_CLASSES[io_class], level)


def set_scheduler(policy: str, flags: list[str], nice: int, priority: int, runtime: int,
                  deadline: int, period: int, sc=real_syscalls) -> None:
    bits = 0
    for flag in flags:
        bits |= SCHED_FLAGS[flag]
    sc.sched_setattr_self(SCHED_POLICIES[policy], bits, nice, priority, runtime, deadline,
                          period)


def set_cpus(pid: int, cpus: set[int], sc=real_syscalls) -> None:
    """Pin `pid` (0: the caller) to these CPUs."""
    sc.sched_setaffinity(pid, cpus)

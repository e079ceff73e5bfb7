"""Level 06: capabilities, no_new_privs and seccomp."""

from pyrun.config.model import capability_number
from pyrun.lab import observe

KEEP = {capability_number(name) for name in (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")}
KNOWN = (
    ("loading the filter", "the kernel loads a seccomp filter only for a process with "
     "no_new_privs set, or with CAP_SYS_ADMIN (just dropped): capabilities."
     "set_no_new_privs() before seccomp_filter.load()"),
)
PROBE = (
    "if hostname other 2>/dev/null; then echo 'lab: sethostname allowed'; fi",
    "if unshare -U true 2>/dev/null; then echo 'lab: unshare allowed'; "
    "else echo 'lab: unshare denied'; fi",
)


def check(lab):
    run = lab.start("run", "--rootfs", lab.rootfs, "--", *lab.probe(*PROBE))
    pid = lab.container(run, "compile the seccomp filter before pivot_root (libseccomp must "
                        "be loaded while the host's libraries are reachable), drop the rest "
                        "after it", known=KNOWN)
    lab.ok("the command runs")
    status = observe.status(pid)
    bounding, effective = observe.caps(status["CapBnd"]), observe.caps(status["CapEff"])
    common_hint = "keep exactly Docker's 14 (the README lists them)"
    if bounding - KEEP and effective - KEEP:
        lab.fail(f"the command has {len(effective)} capabilities, "
                 f"{'CAP_SYS_ADMIN among them' if 21 in effective else 'too many'}; "
                 f"it should have Docker's 14",
                 "drop the others from the bounding set first: "
                 "capabilities.drop_bounding(keep). As root, execve(2) gives a program "
                 "every capability of the bounding set back, so dropping them from the "
                 "effective and permitted sets alone does not last past the exec "
                 "(capabilities(7), 'Transformation of capabilities during execve')", run)
    if bounding - KEEP:
        lab.fail(f"the bounding set still has {_few(bounding - KEEP)}",
                 "capabilities.drop_bounding(keep) (PR_CAPBSET_DROP for each other one). "
                 "The effective set is right only because no_new_privs keeps execve from "
                 "granting more; without it, root's execve gives a program the whole "
                 "bounding set back", run)
    if KEEP - bounding:
        lab.fail(f"the bounding set lacks {_few(KEEP - bounding)}",
                 common_hint, run)
    if effective != KEEP:
        lab.fail(f"the effective set is {observe.cap_names(effective)}",
                 "capabilities.set_process_caps(effective=keep, permitted=keep, "
                 "inheritable=set())", run)
    lab.ok("its capabilities are Docker's 14, in the bounding set too (no CAP_SYS_ADMIN)")
    if run.facts().get("sethostname") == "allowed":
        lab.fail("the command could change the hostname", common_hint, run)
    if status.get("NoNewPrivs") != "1":
        lab.fail("no_new_privs is not set: a setuid program inside could gain privileges",
                 "capabilities.set_no_new_privs() (prctl PR_SET_NO_NEW_PRIVS) before loading "
                 "the filter", run)
    lab.ok("no_new_privs is set")
    if status.get("Seccomp") != "2":
        lab.fail("the command runs without a seccomp filter (Seccomp: "
                 f"{status.get('Seccomp')} in /proc/PID/status)",
                 "seccomp.compile(profile) before pivot_root, .load() last, after "
                 "no_new_privs", run)
    if run.facts().get("unshare") != "denied":
        lab.fail("the filter lets unshare(2) through: `unshare -U true` works inside",
                 "deny unshare (and mount, setns, keyctl, ...) with SCMP_ACT_ERRNO", run)
    lab.ok("a seccomp filter is loaded, and unshare(2) fails with EPERM inside")
    lab.finish(run, pid)


def _few(numbers: set[int]) -> str:
    names = sorted(numbers, key=lambda n: (n != 21, n))  # CAP_SYS_ADMIN first
    more = f" and {len(names) - 4} more" if len(names) > 4 else ""
    return ", ".join(observe.CAP_NAMES.get(n, str(n)) for n in names[:4]) + more

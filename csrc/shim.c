/* Thin wrappers: make the call, leave errno for the caller. No policy here. */
#define _GNU_SOURCE
#include <Python.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/ioprio.h>
#include <linux/mount.h>
#include <linux/keyctl.h>
#include <linux/openat2.h>
#include <linux/sched.h>

#include "shim.h"

int pyrun_mount(const char *source, const char *target, const char *fstype,
                unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int pyrun_umount2(const char *target, int flags)
{
    return umount2(target, flags);
}

/* glibc has no wrapper for pivot_root(2). */
int pyrun_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int pyrun_unshare(int flags)
{
    return unshare(flags);
}

int pyrun_setns(int fd, int nstype)
{
    return setns(fd, nstype);
}

int pyrun_setdomainname(const char *name, size_t len)
{
    return setdomainname(name, len);
}

int pyrun_personality(unsigned long persona)
{
    return personality(persona);
}

/* keyctl(2) lives in libkeyutils, which we do not want to depend on. */
long pyrun_keyctl_join_session_keyring(const char *name)
{
    return syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
}

/* openat2(2) with RESOLVE_IN_ROOT resolves a path as if dirfd were "/":
 * symlinks and ".." can never lead outside the container's rootfs. */
int pyrun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                  uint64_t resolve)
{
    struct open_how how;

    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* bpf(2): cgroup v2 has no devices files; its device allow-list is an eBPF program. */
long pyrun_bpf(int cmd, void *attr, unsigned int size)
{
    return syscall(SYS_bpf, cmd, attr, size);
}

/* python-prctl 1.8 has no PR_CAP_AMBIENT. */
int pyrun_cap_ambient_raise(int cap)
{
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

int pyrun_cap_ambient_clear_all(void)
{
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* ioprio_set(2) has no glibc wrapper: the I/O class and level of this process. */
int pyrun_ioprio_set_self(int io_class, int level)
{
    return (int)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
                        IOPRIO_PRIO_VALUE(io_class, level));
}

/* sched_setattr(2) has no glibc wrapper; it is the one call that takes every policy
 * (SCHED_DEADLINE's runtime, deadline and period included) and its flags. */
int pyrun_sched_setattr_self(unsigned int policy, unsigned long long flags, int nice,
                             unsigned int priority, unsigned long long runtime,
                             unsigned long long deadline, unsigned long long period)
{
    /* struct sched_attr as the kernel takes it (SCHED_ATTR_SIZE_VER0, 48 bytes); glibc
     * before 2.41 has none, and <linux/sched/types.h> clashes with <sched.h>. */
    struct {
        uint32_t size, sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
    } attr;

    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.sched_policy = policy;
    attr.sched_flags = flags;
    attr.sched_nice = nice;
    attr.sched_priority = priority;
    attr.sched_runtime = runtime;
    attr.sched_deadline = deadline;
    attr.sched_period = period;
    return (int)syscall(SYS_sched_setattr, 0, &attr, 0);
}

/* mount_setattr(2) (Linux 5.12) has no glibc wrapper before 2.36: change the flags of a
 * mount, or (AT_RECURSIVE) of a whole tree of them, which mount(2) cannot. */
int pyrun_mount_setattr(int dirfd, const char *path, unsigned int flags,
                        uint64_t attr_set, uint64_t attr_clr)
{
    struct mount_attr attr;

    memset(&attr, 0, sizeof attr);
    attr.attr_set = attr_set;
    attr.attr_clr = attr_clr;
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}

/* fork(2), the child born in the cgroup v2 directory `cgroup_fd` (clone3 with
 * CLONE_INTO_CGROUP, Linux 5.7): no migration, so none of the RCU grace period a write
 * to cgroup.procs costs. As os.fork does it: Python's fork hooks around the call, with
 * the GIL held (cffi released it for us); returns the pid, 0 in the child. */
long pyrun_fork_into_cgroup(int cgroup_fd)
{
    struct clone_args args;
    PyGILState_STATE gil;
    long pid;
    int saved;

    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;

    gil = PyGILState_Ensure();
    PyOS_BeforeFork();
    pid = syscall(SYS_clone3, &args, sizeof args);
    saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved;
    return pid;
}

/* pyrun._seccomp: libseccomp itself, plus what its header offers only as macros.
 * No policy here: pyrun.linux.seccomp decides what to ask for. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

/* SCMP_FLTATR_CTL_WAITKILL (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) came with
 * libseccomp 2.6; -1 tells the Python side this build cannot ask for it. */
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6)
#define PYRUN_FLTATR_CTL_WAITKILL SCMP_FLTATR_CTL_WAITKILL
#else
#define PYRUN_FLTATR_CTL_WAITKILL -1
#endif

/* SCMP_ACT_ERRNO(x) and SCMP_ACT_TRACE(x) are function-like macros, which cffi
 * cannot declare. */
static uint32_t pyrun_act_errno(uint16_t code)
{
    return SCMP_ACT_ERRNO(code);
}

static uint32_t pyrun_act_trace(uint16_t code)
{
    return SCMP_ACT_TRACE(code);
}

/* seccomp(SECCOMP_SET_MODE_FILTER) of a program libseccomp generated earlier (exported
 * with seccomp_export_bpf, possibly by another pyrun: see pyrun.runtime.seccompcache).
 * Returns the notify fd when flags ask for a listener, else 0; -errno on failure. */
static int pyrun_seccomp_load_program(const void *program, size_t size, unsigned int flags)
{
    struct sock_fprog prog;
    long rc;

    if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
        size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EINVAL;
    prog.len = (unsigned short)(size / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)program;
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    return rc < 0 ? -errno : (int)rc;
}

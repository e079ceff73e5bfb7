/* pyrun._seccomp: libseccomp itself, plus what its header offers only as macros.
 * No policy here: pyrun.linux.seccomp decides what to ask for. */
#include <seccomp.h>

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

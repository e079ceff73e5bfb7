/* cffi cdef for pyrun._seccomp: the part of libseccomp's <seccomp.h> pyrun uses.
 *
 * Not a C header (build_seccomp.py reads it as the cdef only): `...` asks cffi to take
 * the real values from the installed <seccomp.h> when it compiles the module, so no
 * number here can drift from the library's. The helpers at the end are in seccomp.c.
 */
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;

struct scmp_version {
    unsigned int major;
    unsigned int minor;
    unsigned int micro;
};

enum scmp_filter_attr {
    SCMP_FLTATR_CTL_NNP,
    SCMP_FLTATR_CTL_TSYNC,
    SCMP_FLTATR_CTL_LOG,
    SCMP_FLTATR_CTL_SSB,
    SCMP_FLTATR_CTL_OPTIMIZE,
    SCMP_FLTATR_API_SYSRAWRC,
    ...
};

enum scmp_compare {
    SCMP_CMP_NE,
    SCMP_CMP_LT,
    SCMP_CMP_LE,
    SCMP_CMP_EQ,
    SCMP_CMP_GE,
    SCMP_CMP_GT,
    SCMP_CMP_MASKED_EQ,
    ...
};

struct scmp_arg_cmp {
    unsigned int arg;
    enum scmp_compare op;
    scmp_datum_t datum_a;
    scmp_datum_t datum_b;
};

#define SCMP_ACT_KILL_PROCESS ...
#define SCMP_ACT_KILL_THREAD ...
#define SCMP_ACT_TRAP ...
#define SCMP_ACT_NOTIFY ...
#define SCMP_ACT_LOG ...
#define SCMP_ACT_ALLOW ...
#define __NR_SCMP_ERROR ...

const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);

scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value);

uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_exist(const scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);

int seccomp_syscall_resolve_name(const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);

int seccomp_load(const scmp_filter_ctx ctx);
int seccomp_notify_fd(const scmp_filter_ctx ctx);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);

/* seccomp.c */
#define PYRUN_FLTATR_CTL_WAITKILL ...
uint32_t pyrun_act_errno(uint16_t code);
uint32_t pyrun_act_trace(uint16_t code);
int pyrun_seccomp_load_program(const void *program, size_t size, unsigned int flags);

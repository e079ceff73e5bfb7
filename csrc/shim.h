/* pyrun's C shim: only the calls Python 3.11's standard library lacks.
 *
 * Every function returns what the system call returns (-1 with errno set on
 * failure); the Python side (pyrun.linux.syscalls) turns that into OSError.
 * This header is both the C prototype list and cffi's cdef, so it must stay
 * plain declarations: no macros, no includes.
 */
int pyrun_mount(const char *source, const char *target, const char *fstype,
                unsigned long flags, const char *data);
int pyrun_umount2(const char *target, int flags);
int pyrun_pivot_root(const char *new_root, const char *put_old);
int pyrun_unshare(int flags);
int pyrun_setns(int fd, int nstype);
int pyrun_setdomainname(const char *name, size_t len);
int pyrun_personality(unsigned long persona);
long pyrun_keyctl_join_session_keyring(const char *name);
int pyrun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                  uint64_t resolve);
int pyrun_cap_ambient_raise(int cap);
int pyrun_cap_ambient_clear_all(void);
long pyrun_bpf(int cmd, void *attr, unsigned int size);
int pyrun_ioprio_set_self(int io_class, int level);
int pyrun_sched_setattr_self(unsigned int policy, unsigned long long flags, int nice,
                             unsigned int priority, unsigned long long runtime,
                             unsigned long long deadline, unsigned long long period);
int pyrun_mount_setattr(int dirfd, const char *path, unsigned int flags,
                        uint64_t attr_set, uint64_t attr_clr);
long pyrun_fork_into_cgroup(int cgroup_fd);

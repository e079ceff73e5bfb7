/* Attempts to get out of a container, one per subcommand, for tests/integration/
 * test_escape.py. Each prints one word: what happened ("escaped", an errno name, a
 * number). Built static by the test, so it runs in a busybox rootfs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int report(int ret)
{
    if (ret < 0) {
        printf("%s\n", strerrorname_np(errno));
        return 1;
    }
    printf("escaped\n");
    return 0;
}

/* open_by_handle_at(2) with a handle made up for inode 2 of the host's root filesystem:
 * the "shocker" escape, which needs CAP_DAC_READ_SEARCH. */
static int open_by_handle(void)
{
    struct { struct file_handle h; unsigned char bytes[8]; } handle;

    memset(&handle, 0, sizeof handle);
    handle.h.handle_bytes = 8;
    handle.h.handle_type = 1;  /* FILEID_INO32_GEN */
    *(unsigned int *)handle.h.f_handle = 2;
    return report(open_by_handle_at(AT_FDCWD, &handle.h, O_RDONLY));
}

/* chroot into a subdirectory, climb out of it with "..", chroot to where we end up:
 * works against a plain chroot(2) jail, not against pivot_root. */
static int chroot_twice(const char *host_only_path)
{
    mkdir("/tmp/jail", 0700);
    if (chroot("/tmp/jail") < 0)
        return report(-1);
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            return report(-1);
    if (chroot(".") < 0)
        return report(-1);
    printf("%s\n", access(host_only_path, F_OK) == 0 ? "escaped" : "contained");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "euid")) {
        printf("%d\n", (int)geteuid());
        return 0;
    }
    if (!strcmp(argv[1], "open_by_handle"))
        return open_by_handle();
    if (!strcmp(argv[1], "init_module"))
        return report((int)syscall(SYS_init_module, "\0", 1, ""));
    if (!strcmp(argv[1], "ptrace") && argc > 2)
        return report((int)ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0));
    if (!strcmp(argv[1], "chroot_twice") && argc > 2)
        return chroot_twice(argv[2]);
    return 2;
}

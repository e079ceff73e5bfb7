"""The container's mount table, from the host's view to the container's: every mount the
init makes is ordered here; how each is made is pyrun.linux.mounts.

    prepare_rootfs    make / rslave, bind the rootfs, the config's mounts in order, /dev
                      nodes, the cwd; the create hooks; pivot_root (or --no-pivot's move)
    chroot_rootfs     instead of all that, without a mount namespace of the container's own
    finalize_rootfs   inside the new root: masked and read-only paths, read-only root,
                      the root's propagation
"""

import os

from pyrun.config import Config, Mount, dev_nodes
from pyrun.errors import PyrunError, wrap
from pyrun.init import hooks
from pyrun.init.common import InitOptions, chroot_into
from pyrun.linux import devices, lsm, mounts, paths
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.sync import Channel


def prepare_rootfs(cfg: Config, opts: InitOptions, cgroup, chan: Channel,
                   sc=real_syscalls):
    """Everything up to and including pivot_root. The create hooks run between the
    mounts and pivot_root; returns the state they were given (None without hooks)."""
    if not cfg.linux.owns("mount"):
        return chroot_rootfs(cfg, opts, cgroup, chan, sc)
    rootfs = cfg.root.path
    with wrap("make / rslave"):
        # rslave, as runc: unmounts on the host still reach us (so we never pin a host
        # mount busy), and nothing we mount goes back to the host.
        mounts.make_root_private(mounts.MS_SLAVE | mounts.MS_REC, sc)
    with wrap(f"bind rootfs {rootfs}"):
        # Through the fds P opened: the directories above the rootfs may be closed to
        # the root of a user namespace.
        mounts.bind_rootfs(paths.fd_path(opts.rootfs_fd), sc)
    with wrap(f"open rootfs {rootfs}"):
        # Looked up again from its parent, to reach the new mount rather than the
        # directory under it (which opts.rootfs_fd still names).
        rootfd = os.open(os.path.basename(rootfs), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC,
                         dir_fd=opts.rootfs_parent_fd)
    try:
        for i, m in enumerate(cfg.mounts):
            if m.type == "cgroup":
                cgroup.complete()  # its tree shows the cgroup (namespace) we are in
            mount_one(rootfd, cfg, m, opts, sc, opts.bind_sources.get(i))
        if not dev_is_bound(cfg):
            # in a user namespace mknod is refused: the host's nodes are bound instead
            with wrap("create devices in /dev"):
                devices.populate_dev(rootfd, dev_nodes(cfg), sc,
                                     bind=cfg.linux.namespace("user") is not None)
        with wrap(f"create cwd {cfg.process.cwd}"):
            os.close(paths.make_dirs(rootfd, cfg.process.cwd, sc=sc))
        hook_state = hooks.run_create_hooks(cfg, cgroup, chan)
        if opts.no_pivot:
            with wrap("hide the host's /proc and /sys (--no-pivot)"):
                mounts.hide_host_proc_and_sys(rootfs, sc)
            with wrap("move rootfs to / (--no-pivot)"):
                mounts.move_root(rootfd, sc)
        else:
            with wrap(f"pivot_root {rootfs}"):
                mounts.pivot_root(rootfd, sc)
    finally:
        os.close(rootfd)
    return hook_state


def chroot_rootfs(cfg: Config, opts: InitOptions, cgroup, chan: Channel,
                  sc=real_syscalls):
    """No mount namespace of the container's own (none asked for, or another's joined):
    that mount table is not ours to change, so no mount is made at all (config refuses
    the fields that would need one) and the rootfs is entered with chroot, as runc does.
    pivot_root here would swap the root of every process in that namespace."""
    rootfs = cfg.root.path
    with wrap(f"create cwd {cfg.process.cwd}"):
        os.close(paths.make_dirs(opts.rootfs_fd, cfg.process.cwd, sc=sc))
    hook_state = hooks.run_create_hooks(cfg, cgroup, chan)
    with wrap(f"chroot {rootfs}"):
        chroot_into(opts.rootfs_fd, sc)
    return hook_state


def mount_one(rootfd: int, cfg: Config, m: Mount, opts: InitOptions, sc=real_syscalls,
              source_fd: int | None = None):
    """Mount one config entry, at its destination resolved inside the rootfs; a bind's
    source from `source_fd` when the intermediate opened it (in a user namespace)."""
    try:
        parsed = mounts.parse_options(m.options)
    except mounts.UnsupportedOption as e:
        raise PyrunError(f"mount {m.destination}", f"option {e}: not supported yet") from None
    if m.type == "bind":
        parsed.flags |= mounts.MS_BIND
    source = m.source
    if parsed.is_bind and not source.startswith("/"):
        source = os.path.join(cfg.bundle, source)
    if source_fd is not None:
        source = paths.fd_path(source_fd)
    if is_dev_read_only_later(m):
        parsed.flags &= ~mounts.MS_RDONLY  # finalize_rootfs makes it read-only, once filled
    if cfg.linux.mount_label and not parsed.is_bind and lsm.selinux_enabled():
        label = lsm.mount_label_option(cfg.linux.mount_label)
        parsed.data = f"{parsed.data},{label}" if parsed.data else label
    with wrap(f"mount {m.destination} ({m.type or 'bind'})"):
        if m.type == "cgroup":
            mounts.mount_cgroup_tree(rootfd, m.destination, parsed, opts.cgroup_mounts,
                                     own_namespace=cfg.linux.owns("cgroup"), sc=sc)
        elif m.type == "sysfs" and cfg.linux.namespace("user") is not None:
            _mount_sysfs_in_user_namespace(rootfd, m, parsed, sc)
        else:
            mounts.mount_entry(rootfd, m.destination, m.type, source, parsed, sc=sc)


def _mount_sysfs_in_user_namespace(rootfd: int, m: Mount, parsed, sc) -> None:
    """sysfs may be mounted only by the owner of the network namespace (sysfs shows
    its devices): without a network namespace of the container's own, bind the host's
    /sys instead, read-only as asked, as runc does."""
    try:
        mounts.mount_entry(rootfd, m.destination, m.type, m.source, parsed, sc=sc)
    except PermissionError:
        parsed.flags |= mounts.MS_BIND | mounts.MS_REC
        mounts.mount_entry(rootfd, m.destination, "bind", "/sys", parsed, sc=sc)


def is_dev_read_only_later(m: Mount) -> bool:
    """A read-only tmpfs on /dev: mounted writable, so that the device nodes, /dev/pts and
    the like can be made in it, and made read-only last (runc does the same)."""
    return m.destination == "/dev" and m.type == "tmpfs" and "ro" in m.options and \
        "rw" not in m.options[m.options.index("ro"):]


def dev_is_bound(cfg: Config) -> bool:
    """/dev comes from the host (a bind): pyrun makes no device nodes in it."""
    return any(m.destination == "/dev" and (m.type == "bind" or
                                            {"bind", "rbind"} & set(m.options))
               for m in cfg.mounts)


def finalize_rootfs(cfg: Config, sc=real_syscalls) -> None:
    """Inside the new root: hide and freeze what the container must not touch."""
    if not cfg.linux.owns("mount"):
        return  # config refuses all of these without one
    for path in cfg.linux.masked_paths:
        with wrap(f"mask {path}"):
            mounts.mask_path(path, sc)
    for path in cfg.linux.readonly_paths:
        with wrap(f"make {path} read-only"):
            mounts.readonly_path(path, sc)
    if any(is_dev_read_only_later(m) for m in cfg.mounts):
        with wrap("remount /dev read-only"):
            mounts.remount_readonly("/dev", sc)
    if cfg.root.readonly:
        with wrap("remount / read-only"):
            mounts.remount_readonly("/", sc)
    propagation = mounts.PROPAGATION_OPTIONS.get(cfg.linux.rootfs_propagation)
    if propagation:
        with wrap(f"set / propagation {cfg.linux.rootfs_propagation}"):
            mounts.set_root_propagation(propagation, sc)

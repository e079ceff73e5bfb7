"""What `pyrun create` does for a container that asked for a bridge network, around its
fork (pyrun.runtime.create): the request checked before anything is made, `claim` before
the fork (lease, bridge, /etc files, which join the config's mounts), `connect` once the
init's network namespace exists. `pyrun delete` undoes it all (network.teardown)."""

import os

from pyrun import config, failpoints, state
from pyrun.errors import wrap
from pyrun.runtime import network
from pyrun.runtime.network.request import Request


def request_of(cfg: config.Config, flag_network: str | None, publish: list[str],
               ip: str | None) -> Request | None:
    """The request from the flags and the config's annotations, or None; a container
    without a network namespace of its own cannot have one."""
    request = network.parse_request(flag_network, publish, ip, cfg.annotations)
    joined = cfg.linux.namespace("network")
    network.check_namespaces(request, cfg.linux.owns("network"), joined and joined.path)
    return request


def claim(c: state.Container, cfg: config.Config, request: Request) -> tuple:
    """The lease, the bridge and the /etc files (pyrun.runtime.network.claim), before the
    fork: the files join the config's mounts, made by the init like any other. Journaled
    first, as the cgroup is: `delete --force` after a kill -9 here tears down by name."""
    c.data["network"] = {}
    c.save()
    failpoints.reached("create: journaled the network")
    etc_dir = c.dir if cfg.linux.owns("mount") else None  # no mount namespace: no binds

    def save(record: dict) -> None:
        c.data["network"] = record
        c.save()

    with wrap("network"):
        record, first = network.claim(c.root, c.id, request, etc_dir=etc_dir,
                                      hostname=cfg.hostname or c.id[:12], save=save)
    failpoints.reached("create: claimed the network")
    if cfg.linux.namespace("user") is None:
        # ping without CAP_NET_RAW (dropped by default), in this namespace only, as Docker
        # does; in a user namespace the range would name unmapped groups.
        cfg.linux.sysctl.setdefault("net.ipv4.ping_group_range", "0 2147483647")
    taken = {m.destination for m in cfg.mounts}
    files = [(d, s) for d, s in record.get("files", {}).items() if d not in taken]
    if files and cfg.linux.namespace("user") is not None:
        # The init, root of its user namespace only, may not create them in a rootfs
        # owned by the host's root: made here, inside the rootfs (pyrun.linux.paths).
        with wrap(f"create /etc files in rootfs {cfg.root.path}"):
            make_mountpoints(cfg.root.path, [d for d, _ in files])
    for destination, source in files:  # the config's own mount there wins
        cfg.mounts.append(config.Mount(destination, "bind", source,
                                       ["rbind", "nosuid", "nodev", "noexec"]))
    return record, first


def make_mountpoints(rootfs: str, files: list[str]) -> None:
    from pyrun.linux import paths

    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path in files:
            os.close(paths.make_mountpoint(rootfd, path, is_dir=False))
    finally:
        os.close(rootfd)


def connect(c: state.Container, attachment: tuple, netns_fd: int) -> None:
    record, first = attachment
    with wrap("network"):
        network.connect(record, first, netns_fd, c.id)
    failpoints.reached("create: connected the network")

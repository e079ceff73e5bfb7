"""One small function per command: (global flags, command flags, positional arguments)
-> exit status. Each imports what it needs when it runs: a `pyrun run` must not pay for
`pyrun list`."""

import os

from pyrun.cli.flags import UPDATE_RESOURCE_FLAGS, UsageError


def cmd_spec(g, o, args):
    import json

    from pyrun.config import default_spec
    from pyrun.errors import PyrunError

    path = os.path.join(o.get("bundle", "."), "config.json")
    if os.path.exists(path):
        raise PyrunError(path, "file exists (remove it first)")
    with open(path, "w") as f:
        json.dump(default_spec(rootless=o.get("rootless", False)), f, indent="\t")
        f.write("\n")
    return 0


def _create_options(g, o, detached: bool):
    from pyrun.runtime.create import CreateOptions

    fds = o.get("preserve_fds", "0")
    if not fds.isdigit():
        raise UsageError(f"--preserve-fds: {fds!r} is not a number")
    listen = os.environ.get("LISTEN_FDS", "")
    extra = int(listen) if listen.isdigit() else 0
    return CreateOptions(bundle=o.get("bundle", "."), pid_file=o.get("pid_file"),
                         console_socket=o.get("console_socket"),
                         no_pivot=o.get("no_pivot", False),
                         no_new_keyring=o.get("no_new_keyring", False),
                         preserve_fds=int(fds) + extra, detached=detached,
                         systemd_cgroup=g.get("systemd_cgroup", False),
                         network=o.get("network"), publish=o.get("publish", []),
                         ip=o.get("ip"))


def cmd_create(g, o, args):
    from pyrun.runtime.create import create

    def go(container_id):
        create(g["root"], container_id, _create_options(g, o, detached=True))
        return 0

    return _with_bundle_or_id(g, o, args, go, announce=True)


def cmd_run(g, o, args):
    from pyrun.runtime.run import run

    detach = o.get("detach", False)

    def go(container_id):
        return run(g["root"], container_id, _create_options(g, o, detached=detach),
                   detach=detach, keep=o.get("keep", False))

    return _with_bundle_or_id(g, o, args, go, announce=detach)


def _with_bundle_or_id(g, o, args, go, announce: bool) -> int:
    """runc's `create|run [-b BUNDLE] ID`, and pyrun's `run BUNDLE_DIR`: an argument that
    is a directory holding a config.json is the bundle (an id never has a '/'; a bare
    name only when the current directory is no bundle itself), and the id comes from the
    directory's name, made unique if taken, and printed when pyrun returns before the
    container ends."""
    arg = _one_id(args)
    if "bundle" in o or not _is_bundle(arg) or ("/" not in arg and _is_bundle(".")):
        return go(arg)
    from pyrun.state import ContainerExists, id_from_name

    o["bundle"] = arg
    base = id_from_name(os.path.basename(os.path.realpath(arg)))
    for n in range(1, 1000):
        container_id = base if n == 1 else f"{base}-{n}"
        try:
            status = go(container_id)
        except ContainerExists:
            continue
        if announce:
            print(container_id)
        return status
    raise UsageError(f"no free container id like {base!r}: pass one (-b {arg} ID)")


def _is_bundle(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json"))


def cmd_start(g, o, args):
    from pyrun.runtime.start import start

    start(g["root"], _one_id(args))
    return 0


def cmd_state(g, o, args):
    from pyrun.runtime.query import show_state

    print(show_state(g["root"], _one_id(args)))
    return 0


def cmd_list(g, o, args):
    from pyrun import fastjson
    from pyrun.runtime.query import format_table, list_containers

    entries = list_containers(g["root"])
    fmt = o.get("format", "table")
    if o.get("quiet"):
        print("\n".join(e["id"] for e in entries))
    elif fmt == "json":
        print(fastjson.dumps(entries))  # runc's: compact
    elif fmt == "table":
        print(format_table(entries))
    else:
        raise UsageError(f"invalid format option {fmt!r} (table or json)")
    return 0


def cmd_kill(g, o, args):
    from pyrun.runtime.kill import kill, parse_signal

    if not args or len(args) > 2:
        raise UsageError("kill takes <container-id> [SIGNAL]")
    sig = parse_signal(args[1] if len(args) > 1 else "SIGTERM")
    kill(g["root"], args[0], sig, all_processes=o.get("all", False))
    return 0


def cmd_delete(g, o, args):
    from pyrun.runtime.delete import delete

    delete(g["root"], _one_id(args), force=o.get("force", False))
    return 0


def cmd_pause(g, o, args):
    from pyrun.runtime.pause import pause

    pause(g["root"], _one_id(args))
    return 0


def cmd_resume(g, o, args):
    from pyrun.runtime.pause import resume

    resume(g["root"], _one_id(args))
    return 0


def cmd_ps(g, o, args):
    from pyrun.runtime.ps import ps

    if not args:
        raise UsageError("ps takes <container-id> [ps options]")
    print(ps(g["root"], args[0], o.get("format", "table"), args[1:]))
    return 0


def cmd_events(g, o, args):
    from pyrun.runtime.events import events, parse_interval

    interval = parse_interval(o.get("interval", "5s"))
    events(g["root"], _one_id(args), interval, stats_once=o.get("stats", False))
    return 0


def cmd_update(g, o, args):
    from pyrun.config import Resources
    from pyrun.runtime.update import parse_bytes, read_resources_json, update
    from pyrun.state import open_container

    container_id = _one_id(args)
    open_container(g["root"], container_id)  # an unknown id: "does not exist" first
    changes, devices = read_resources_json(o["resources"]) if "resources" in o else \
        (Resources(), None)
    for name, field, kind in UPDATE_RESOURCE_FLAGS:
        if field in o:
            text = o[field]
            if kind == "bytes":
                value = parse_bytes(text)
            elif kind == "int":
                if not text.lstrip("-").isdigit():
                    raise UsageError(f"--{name}: {text!r} is not a number")
                value = int(text)
            else:
                value = text
            setattr(changes, field, value)
    if changes.is_empty() and devices is None:
        raise UsageError("update: nothing to change (see pyrun update --help)")
    update(g["root"], container_id, changes, devices)
    return 0


def cmd_exec(g, o, args):
    from pyrun.errors import NotSupportedYet, PyrunError
    from pyrun.runtime.exec import ExecOptions, exec_in

    if "cgroup" in o:
        raise NotSupportedYet("exec --cgroup")
    if not args:
        raise UsageError("exec takes <container-id> <command> [args...]")
    fds = o.get("preserve_fds", "0")
    if not fds.isdigit():
        raise UsageError(f"--preserve-fds: {fds!r} is not a number")
    opts = ExecOptions(
        args=args[1:], process_file=o.get("process"), cwd=o.get("cwd"), env=o.get("env", []),
        user=o.get("user"), additional_gids=o.get("additional_gids", []),
        caps=o.get("cap", []), no_new_privs=o.get("no_new_privs", False),
        tty=o.get("tty", False), console_socket=o.get("console_socket"),
        detach=o.get("detach", False), pid_file=o.get("pid_file"), preserve_fds=int(fds),
        apparmor=o.get("apparmor"), process_label=o.get("process_label"),
        ignore_paused=o.get("ignore_paused", False))
    try:
        return exec_in(g["root"], args[0], opts)
    except PyrunError as e:
        e.exit_status = EXEC_FAILED  # the process never ran: not a status of its own
        raise
    except OSError as e:
        err = PyrunError("exec failed", e.strerror or str(e))
        err.exit_status = EXEC_FAILED
        raise err from None


# runc's status when exec fails before the process runs, told apart from the process's own.
EXEC_FAILED = 255


def cmd_checkpoint_restore(g, o, args):
    from pyrun.errors import NotSupportedYet

    raise NotSupportedYet("checkpoint and restore (CRIU)")


def cmd_features(g, o, args):
    from pyrun.runtime.features import show

    print(show())
    return 0


def cmd_network(g, o, args):
    from pyrun.runtime.network import prune
    from pyrun.runtime.network.leases import format_leases

    if args == ["ls"]:
        print(format_leases(g["root"]))
    elif args == ["prune"]:
        for container_id in prune(g["root"]):
            print(container_id)
    else:
        raise UsageError("network takes ls or prune")
    return 0


HANDLERS = {
    "spec": cmd_spec, "create": cmd_create, "run": cmd_run, "start": cmd_start,
    "state": cmd_state, "list": cmd_list, "kill": cmd_kill, "delete": cmd_delete,
    "pause": cmd_pause, "resume": cmd_resume, "ps": cmd_ps, "events": cmd_events,
    "update": cmd_update, "exec": cmd_exec, "features": cmd_features,
    "checkpoint": cmd_checkpoint_restore, "restore": cmd_checkpoint_restore,
    "network": cmd_network,
}


def _one_id(args):
    if len(args) != 1:
        raise UsageError(f"expected exactly one container id, got {len(args)} arguments")
    return args[0]



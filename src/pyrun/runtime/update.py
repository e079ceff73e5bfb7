"""`pyrun update`: change the resource limits of a running (or created/paused) container."""

from pyrun import config, state
from pyrun.errors import PyrunError
from pyrun.runtime import common


def update(root: str, container_id: str, changes: config.Resources,
           device_rules: list | None = None) -> None:
    """Write `changes` (and, given, a new device allow-list: the config's part of it, to
    which runc's defaults and the container's own nodes are added as at create)."""
    c = state.open_container(root, container_id).lock()
    if common.status_of(c) == "stopped":
        raise PyrunError("container not running")
    group = common.cgroup_of(c)
    group.apply(changes)
    if device_rules is not None:
        rules = config.effective_rules(device_rules, [tuple(n) for n in
                                                      c.data.get("created_nodes", [])])
        previous = config.parse_device_rules(c.data.get("device_rules", []))
        group.set_devices(rules, previous=previous)
        c.data["device_rules"] = config.device_rules_json(rules)
        c.save()


def read_resources_json(path: str) -> tuple[config.Resources, list | None]:
    """`--resources FILE` (or `-` for stdin): a linux.resources object; its device
    rules (None when it has no `devices`)."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else open(path).read()  # noqa: SIM115
    except OSError as e:
        raise PyrunError(f"--resources {path}", e.strerror or str(e)) from None
    doc = config.parse_json(text.encode(), f"--resources {path}")
    resources = config.parse_resources(doc, "linux.resources")
    if not isinstance(doc, dict) or doc.get("devices") is None:
        return resources, None
    return resources, config.parse_device_rules(doc["devices"])


def parse_bytes(text: str) -> int:
    """runc's memory values: '64m', '1G', '512k', '1024', '-1' (binary multiples)."""
    value = text.strip().lower().removesuffix("b")
    if value == "-1":
        return -1
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(value[-1:], 1)
    digits = value[:-1] if scale > 1 else value
    if not digits.isdigit():
        raise PyrunError(f"invalid size {text!r}", "expected a number with k, m, g or t")
    return int(digits) * scale

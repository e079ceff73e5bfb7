"""`pyrun state` and `pyrun list`: read-only views, in runc's JSON and table formats."""

from pyrun import fastjson, state
from pyrun.runtime import common


def state_json(c: state.Container) -> dict:
    """runc's `state` object."""
    status = common.status_of(c)
    out = {
        "ociVersion": c.data.get("oci_version", ""),
        "id": c.id,
        "pid": c.pid if status != "stopped" else 0,
        "status": status,
        "bundle": c.data.get("bundle", ""),
        "rootfs": c.data.get("rootfs", ""),
        "created": c.data.get("created", ""),
        "owner": c.data.get("owner", ""),
    }
    if c.data.get("annotations"):
        out["annotations"] = c.data["annotations"]
    return out


def show_state(root: str, container_id: str) -> str:
    return fastjson.dumps_indented(state_json(state.open_container(root, container_id)))


def list_containers(root: str) -> list[dict]:
    found = []
    for cid in state.list_ids(root):
        try:
            found.append(state_json(state.open_container(root, cid)))
        except Exception:
            continue
    return found


def format_table(entries: list[dict]) -> str:
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(e["id"], str(e["pid"]), e["status"], e["bundle"], e["created"],
              e["owner"] or "root") for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)

"""A fuzz campaign: hypothesis draws plans, the harness runs each, every result is kept
(a finding never stops the campaign), and `summary` folds findings into a table."""

import re
import uuid
from collections import defaultdict

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from tests.fuzz.harness import CONTROL, SEVERITY, Case, Result, Session
from tests.fuzz.mutations import plans


def printable(text: str) -> str:
    """`text` with control characters escaped: the table must not drive the terminal."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def new_id() -> str:
    return "fz-" + uuid.uuid4().hex[:10]


def run_plans(session: Session, command: str, examples: int, *, seed: int | None = None,
              derandomize: bool = False, on_result=None, runc: str | None = None,
              keep_dirs: bool = False) -> list[Result]:
    """Run `examples` generated cases through `command`; return every Result."""
    results = []

    @settings(max_examples=examples, database=None, derandomize=derandomize, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(plan=plans(command))
    def one(plan):
        cid = new_id()
        case = Case(cid, config=lambda d: plan.render(d, cid), command=command)
        res = session.run(case, keep_dir=keep_dirs, compare=runc)
        case.label = plan.label  # after render: it notes what sanitize changed
        results.append(res)
        if on_result is not None:
            on_result(res)

    if seed is not None and not derandomize:
        one = hypothesis_seed(seed)(one)
    one()
    return results


# --- the table of findings ----------------------------------------------------------------------

def normalize(line: str, res: Result) -> str:
    """A stderr line with what differs between cases (id, directories, numbers) replaced."""
    out = line.replace(res.case.cid, "ID")
    if res.case.id_arg:
        out = out.replace(res.case.id_arg, "ID")
    out = re.sub(r"/\S*/fz-[0-9a-f]{10}", "CASE", out)
    out = re.sub(r"/\S*/hooks/", "HOOKS/", out)
    out = re.sub(r"\d+", "N", out)
    return out[:160]


def path_of(label: str) -> str:
    """The JSON paths a case mutated, indices dropped: "mounts[].options; process.env"."""
    parts = []
    for item in label.split("; "):
        if item.startswith(("sanitized", "text op")):
            continue
        path = re.sub(r"\[\d+\]", "[]", item.split(": ")[0])
        if path not in parts:
            parts.append(path)
    return "; ".join(parts)[:80]


def group(results: list[Result]) -> list[dict]:
    """Findings grouped by (kind, normalized first stderr line), most serious first."""
    groups: dict = defaultdict(lambda: {"count": 0, "paths": [], "example": None})
    for res in results:
        for f in res.findings:
            key = (f.kind, normalize(res.first_line or f.detail, res))
            g = groups[key]
            g["count"] += 1
            p = path_of(res.case.label)
            if p not in g["paths"]:
                g["paths"].append(p)
            if g["example"] is None:
                g["example"] = (res, f)
    rank = {k: i for i, k in enumerate(SEVERITY)}
    rows = [{"kind": k, "line": line, **g} for (k, line), g in groups.items()]
    rows.sort(key=lambda r: (rank.get(r["kind"], 99), -r["count"]))
    return rows


def summary(results: list[Result]) -> str:
    total = len(results)
    counts = defaultdict(int)
    for r in results:
        counts[r.outcome] += 1
    head = (f"{total} cases: {counts['accepted']} accepted, {counts['refused']} refused "
            f"cleanly, {counts['finding']} with findings")
    rows = group(results)
    if not rows:
        return head + "\nno findings"
    out = [head, "", f"{'kind':<18} {'count':>5}  {'JSON path mutated':<40}  first stderr line"]
    for r in rows:
        res, f = r["example"]
        paths = r["paths"][0] + (f" (+{len(r['paths']) - 1} more)" if len(r["paths"]) > 1
                                 else "")
        first = printable((res.first_line or f.detail)[:200])
        out.append(f"{r['kind']:<18} {r['count']:>5}  {paths:<40}  {first}")
    return "\n".join(out)


def differences(results: list[Result]) -> str:
    """Where runc (--runc) disagreed: pyrun accepted what runc refused, and the reverse."""
    groups: dict = defaultdict(lambda: [0, None])
    for res in results:
        if res.compared is None or res.rc not in (0, 1) or res.compared[0] not in (0, 1):
            continue
        if (res.rc == 0) == (res.compared[0] == 0):
            continue
        way = "pyrun accepts, runc refuses" if res.rc == 0 else "pyrun refuses, runc accepts"
        line = res.compared[1] if res.rc == 0 else res.first_line
        key = (way, normalize(line, res))
        groups[key][0] += 1
        groups[key][1] = groups[key][1] or res
    if not groups:
        return ""
    out = ["", f"{'differs from runc':<28} {'count':>5}  {'JSON path mutated':<40}  "
               f"the refusal"]
    for (way, line), (count, res) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        out.append(f"{way:<28} {count:>5}  {path_of(res.case.label):<40}  "
                   f"{printable(line[:160])}")
    return "\n".join(out)


def findings_of(results: list[Result]) -> list[Result]:
    return [r for r in results if r.findings]

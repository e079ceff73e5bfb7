"""Long fuzz runs, outside pytest: every finding is kept, and a table sums them up.

    /work/shared/tools/sandbox .venv/bin/python -m tests.fuzz --examples 3000 --seed 7 \\
        --out /tmp/fuzz-out [--runc /usr/sbin/runc] [--oddities]

Runs `--examples` generated cases (a `--run-share` of them through `run`, the rest through
`create`), then with --oddities the fixed pathological inputs. Each finding's config.json
and a note (label, exit status, stderr, findings, and runc's outcome with --runc) go to
--out as NNNN-KIND.json / .txt; results.jsonl has one line per case. Refuses to run outside
the sandbox unless --no-sandbox.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.campaign import differences, new_id, run_plans, summary
from tests.fuzz.harness import Result, Session, remove_tree
from tests.fuzz.oddities import ODDITIES
from tests.integration.bundles import make_rootfs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int,
                    default=int(os.environ.get("PYRUN_FUZZ_EXAMPLES", "500")))
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    ap.add_argument("--run-share", type=float, default=0.2,
                    help="the share of cases that go through `run` (default 0.2)")
    ap.add_argument("--oddities", action="store_true", help="also the fixed pathological inputs")
    ap.add_argument("--runc", default=None, help="run every case through this runc too")
    ap.add_argument("--out", default=None, help="where findings go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep every case's directory")
    ap.add_argument("--no-sandbox", action="store_true")
    args = ap.parse_args(argv)
    if os.environ.get("SANDBOXED") != "1" and not args.no_sandbox:
        print("refusing to fuzz outside /work/shared/tools/sandbox (--no-sandbox overrides)",
              file=sys.stderr)
        return 2
    out = Path(args.out or tempfile.mkdtemp(prefix="pyrun-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pyrun-fuzz-work-"))
    template = make_rootfs(work / "template")
    results: list[Result] = []
    log = open(out / "results.jsonl", "a")  # noqa: SIM115 (open for the whole run)
    started = time.monotonic()

    def record(res: Result):
        results.append(res)
        n = len(results)
        entry = {"n": n, "cid": res.case.cid, "command": res.case.command,
                 "label": res.case.label, "rc": res.rc, "outcome": res.outcome,
                 "line": res.first_line[:300], "seconds": round(res.seconds, 3),
                 "findings": [[f.kind, f.detail[:300]] for f in res.findings],
                 "compared": res.compared}
        log.write(json.dumps(entry) + "\n")
        log.flush()
        if res.findings:
            stem = out / f"{n:04d}-{res.findings[0].kind}"
            if res.config_text is not None:
                stem.with_suffix(".json").write_bytes(res.config_text)
            stem.with_suffix(".txt").write_text(
                f"label: {res.case.label}\ncommand: {res.case.command}\nrc: {res.rc}\n"
                f"stderr: {res.stderr[:3000]!r}\nfindings: {entry['findings']}\n"
                f"compared ({args.runc}): {res.compared}\n")
        if n % 50 == 0:
            rate = n / (time.monotonic() - started)
            print(f"[{n} cases, {rate:.1f}/s, "
                  f"{sum(1 for r in results if r.findings)} with findings]", file=sys.stderr)

    runs = round(args.examples * args.run_share)
    with Session(work / "cases", template) as session:
        if args.oddities:
            for name, make in ODDITIES.items():
                res = session.run(make(new_id()), compare=args.runc)
                res.case.label = f"{name}: {res.case.label}"
                record(res)
        for command, n, salt in (("create", args.examples - runs, 0), ("run", runs, 1)):
            if n > 0:
                seed = None if args.seed is None else args.seed * 2 + salt
                run_plans(session, command, n, seed=seed, on_result=record, runc=args.runc,
                          keep_dirs=args.keep)
    log.close()
    print(summary(results))
    if args.runc:
        print(differences(results))
    print(f"\n{len(results)} cases in {time.monotonic() - started:.0f} s; findings in {out}")
    if not args.keep:
        remove_tree(work)
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

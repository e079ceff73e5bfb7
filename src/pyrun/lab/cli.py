"""pyrun-lab: the teaching labs' command line.

    pyrun-lab list                     the levels, what each needs, where you are
    pyrun-lab start NN                 copy level NN's skeleton to student.py, say what next
    pyrun-lab check NN [PROGRAM...]    check your program (default: the level's student.py,
                                       else its skeleton.py); exit 0 if it passes
    pyrun-lab rootfs DIR               a busybox root filesystem to try your program on

`check` runs as root; every program runs in throwaway namespaces (pyrun.lab.box) and
everything it made is removed afterwards. Level 05 needs cgroup v2: on a host without it
the check runs itself in the project's VM (vm/run.sh) when there is one.
"""

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys

from pyrun.lab import needs
from pyrun.lab.box import BoxError
from pyrun.lab.harness import Failure, Lab
from pyrun.lab.levels import LEVELS, Level, NoSuchLevel, find


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyrun-lab", description="pyrun's teaching labs: "
                                     "rebuild a container runtime one kernel feature a level")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the levels")
    p = sub.add_parser("start", help="copy a level's skeleton to student.py")
    p.add_argument("level")
    p = sub.add_parser("check", help="check a program against a level")
    p.add_argument("level")
    p.add_argument("programs", nargs="*", metavar="PROGRAM")
    p.add_argument("--json", action="store_true", help="one JSON object per program")
    p.add_argument("--no-vm", action="store_true",
                   help="never re-run in the cgroup v2 VM")
    p = sub.add_parser("rootfs", help="make a busybox root filesystem")
    p.add_argument("dir")
    # Programs may follow options (check 05 --json a.py b.py): argparse would stop at them.
    args, extra = parser.parse_known_args(argv)
    if args.command == "check" and not [e for e in extra if e.startswith("-")]:
        args.programs += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return COMMANDS[args.command](args)
    except NoSuchLevel as e:
        print(f"pyrun-lab: {e}", file=sys.stderr)
        return 2


def cmd_list(args) -> int:
    for level in LEVELS:
        mark = "*" if (level.directory() / "student.py").exists() else " "
        extra = [n for n in level.needs if n != "root"]
        print(f"{mark} {level.number}  {level.title:<58} {level.minutes:>7}"
              + (f"  needs {', '.join(extra)}" if extra else ""))
    print("(* = you have a student.py there)   every level runs as root")
    return 0


def cmd_start(args) -> int:
    level = find(args.level)
    student = level.directory() / "student.py"
    if student.exists():
        print(f"{student} exists: keeping it")
    else:
        shutil.copy(level.directory() / "skeleton.py", student)
        print(f"your copy: {student}")
    print(f"read:  {level.directory() / 'README.md'}\n"
          f"check: sudo {sys.argv[0]} check {level.number}")
    return 0


def cmd_rootfs(args) -> int:
    from pyrun.lab.rootfs import make_rootfs

    print(make_rootfs(args.dir))
    return 0


def cmd_check(args) -> int:
    level = find(args.level)
    programs = args.programs or [str(level.default_program())]
    for program in programs:
        if not os.path.isfile(program):
            print(f"pyrun-lab: {program}: no such file", file=sys.stderr)
            return 2
    problems = needs.missing(level)
    if problems and [n for n, _ in problems] == ["cgroup2"] and not args.no_vm:
        command = needs.vm_command(level, programs, ["--json"] if args.json else [])
        if command is not None:
            print(f"pyrun-lab: {level} needs cgroup v2, which this host lacks: running "
                  f"the check in the project's cgroup v2 VM (vm/run.sh, ~15 s)",
                  file=sys.stderr, flush=True)
            return subprocess.call(command)
    if problems:
        print(f"pyrun-lab: {level} needs:", file=sys.stderr)
        for _need, problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        if "cgroup2" in [n for n, _ in problems]:
            print(needs.VM_HOWTO.format(n=level.number), file=sys.stderr)
        return 2
    # A checker cleans up in `finally`: let SIGTERM and SIGHUP end it that way too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    results = [check_program(level, program, quiet=args.json) for program in programs]
    if args.json:
        for result in results:
            print(json.dumps(result), flush=True)
    return 0 if all(r["passed"] for r in results) else 1


def check_program(level: Level, program: str, quiet: bool = False) -> dict:
    """Run one level's checker on one program; prints as it goes unless quiet."""
    out = io.StringIO() if quiet else sys.stdout
    program = os.path.realpath(program)
    print(f"pyrun-lab: {level}: checking {_shown(program)}", file=out, flush=True)
    if os.path.basename(program) == "skeleton.py":
        print(f"  (the untouched skeleton: `pyrun-lab start {level.number}` makes your copy)",
              file=out)
    result = {"level": level.number, "program": program, "passed": False, "failure": None,
              "hint": None}
    lab = None
    try:
        lab = Lab(level, program, out=out)
        level.checker()(lab)
        result["passed"] = True
    except BoxError as e:
        result["failure"] = str(e)
        print(f"  ERROR {e}", file=out)
    except Failure as f:
        result["failure"], result["hint"] = f.what, f.hint
        print(f"  FAIL  {f.what}", file=out)
        if f.hint:
            print(_wrap(f.hint, "     -> "), file=out)
        if f.detail:
            print("\n".join("        " + line for line in f.detail.splitlines()), file=out)
    finally:
        if lab is not None:
            lab.close()
    if result["passed"]:
        print(f"{level} passed.", file=out)
        nxt = [x for x in LEVELS if x.number > level.number]
        if nxt:
            print(f"next: {_shown(str(nxt[0].directory() / 'README.md'))} "
                  f"(pyrun-lab start {nxt[0].number})", file=out)
    else:
        print(f"{level}: not yet. Fix the first FAIL, then check again.", file=out)
    if quiet:
        result["output"] = out.getvalue()
    return result


def _wrap(text: str, first: str) -> str:
    import textwrap

    return textwrap.fill(text, 96, initial_indent=first, break_on_hyphens=False,
                         break_long_words=False,
                         subsequent_indent=" " * len(first))


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


COMMANDS = {"list": cmd_list, "start": cmd_start, "check": cmd_check, "rootfs": cmd_rootfs}

if __name__ == "__main__":
    sys.exit(main())

"""The teaching labs' checkers (src/pyrun/lab, examples/labs/): each passes on its level's
reference solution, and fails, saying what to do, on the level's untouched skeleton and on
typical wrong attempts (tests/labs/wrong/, each a small program with one mistake).

As root (`make labs`): the checkers run the programs in throwaway namespaces. One checker
run per level covers all its programs; level 05 needs cgroup v2, and on a host without it
`pyrun-lab check` runs that one batch in one boot of the project's VM (vm/run.sh).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyrun.lab.levels import LEVELS

pytestmark = [
    pytest.mark.labs,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="the labs' checkers run as root"),
]

WRONG = Path(__file__).parent / "wrong"

# What each checker must say (in its first failure or its hint) about the untouched
# skeleton...
SKELETON = {
    "00": "before the command printed 'lab: ready'",
    "01": "the command's / is the host's /",
    "02": "the command shares the host's mount namespace",
    "03": "as after chroot",
    "04": "the command shares the host's UTS namespace",
    "05": "the command is in the cgroup",
    "06": "CAP_SYS_ADMIN among them",
    "07": "the command is in the host's user namespace",
    "08": "the command shares the host's network namespace",
    "09": "`create --bundle",
    "10": "the command's terminal output never reached it",
}
# ... and about each wrong attempt.
WRONGS = {
    "00_exec_without_fork.py": "the command replaced your program",
    "00_signal_status.py": "a shell reports 137",
    "01_no_chdir.py": "working directory",
    "02_not_private.py": "shows in the host's mount table",
    "03_old_root_kept.py": "the host's root filesystem is still mounted",
    "04_no_uts.py": "your sethostname renamed the host",
    "05_cgroup_left_behind.py": "is still there after your program exited",
    "06_capset_only.py": "the bounding set still has CAP_SYS_ADMIN",
    "07_no_switch.py": "EOVERFLOW",
    "08_no_loopback.py": "lo is down inside",
    "09_no_fifo_wait.py": "the command already runs before start",
    "10_no_subreaper.py": "not of your shim",
}
_results: dict[str, dict[str, dict]] = {}


def cases(level):
    d = level.directory()
    return {"solution": d / "solution.py", "skeleton": d / "skeleton.py",
            **{name: WRONG / name for name in sorted(WRONGS) if name[:2] == level.number}}


def results(level) -> dict[str, dict]:
    """Case name -> the checker's JSON result, from one `pyrun-lab check` of them all."""
    if level.number not in _results:
        programs = cases(level)
        proc = subprocess.run(
            [sys.executable, "-m", "pyrun.lab.cli", "check", level.number, "--json",
             *map(str, programs.values())],
            capture_output=True, text=True, timeout=800)
        found = [json.loads(line) for line in proc.stdout.splitlines()
                 if line.startswith("{")]
        assert len(found) == len(programs), (
            f"pyrun-lab check {level.number} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        _results[level.number] = dict(zip(programs, found, strict=True))
    return _results[level.number]


ALL = [(level, name) for level in LEVELS for name in cases(level)]


@pytest.mark.parametrize(("level", "case"), ALL,
                         ids=[f"{level.number}-{name.removesuffix('.py')}"
                              for level, name in ALL])
def test_checker(level, case):
    result = results(level)[case]
    if case == "solution":
        assert result["passed"], result["output"]
        return
    expected = SKELETON[level.number] if case == "skeleton" else WRONGS[case]
    assert not result["passed"], result["output"]
    assert result["hint"], f"no hint for: {result['failure']}"
    assert expected in f"{result['failure']} {result['hint']}", result["output"]

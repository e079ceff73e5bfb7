"""The ladder's shape, without root: every level has its README, skeleton and solution;
skeletons carry TODOs and solutions none; each skeleton starts from the level before."""

import ast
import subprocess
import sys

import pytest

from pyrun.lab.levels import LEVELS, labs_dir

pytestmark = pytest.mark.labs


@pytest.mark.parametrize("level", LEVELS, ids=[level.number for level in LEVELS])
def test_level_files(level):
    d = level.directory()
    assert d.is_dir(), f"{d} is missing"
    readme = (d / "README.md").read_text()
    for section in ("## Goal", "## Read", "## Steps", "## Check", "## Observe"):
        assert section in readme, f"{d}/README.md has no '{section}'"
    skeleton, solution = (d / "skeleton.py").read_text(), (d / "solution.py").read_text()
    assert "TODO" in skeleton
    assert "TODO" not in solution
    ast.parse(skeleton)
    ast.parse(solution)


@pytest.mark.parametrize("level", LEVELS[1:], ids=[level.number for level in LEVELS[1:]])
def test_skeleton_starts_from_previous_solution(level):
    """Every function of the previous solution is in this skeleton (changed or not)."""
    previous = LEVELS[LEVELS.index(level) - 1]
    before = _functions((previous.directory() / "solution.py").read_text())
    now = _functions((level.directory() / "skeleton.py").read_text())
    assert before <= now, f"missing from the skeleton: {sorted(before - now)}"


def _functions(source: str) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef)}


def test_labs_readme_lists_every_level():
    text = (labs_dir() / "README.md").read_text()
    for level in LEVELS:
        assert level.dirname in text, f"examples/labs/README.md does not list {level.dirname}"


def test_cli_list():
    out = subprocess.run([sys.executable, "-m", "pyrun.lab.cli", "list"], capture_output=True,
                         text=True, check=True).stdout
    assert all(level.title in out for level in LEVELS)

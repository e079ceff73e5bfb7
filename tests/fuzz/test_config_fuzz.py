"""The config fuzzer, bounded for CI: generated configs through `create` and `run`, and
the fixed pathological inputs (tests/fuzz/oddities.py), each judged by tests/fuzz/harness.py:
a clean success (then deleted) or one `pyrun: CMD ID: ...` line with exit status 1, and
nothing left behind.

The generated cases are repeatable: a fixed hypothesis seed (PYRUN_FUZZ_SEED to change it),
PYRUN_FUZZ_EXAMPLES cases through `create` (default 300) and a quarter as many through
`run`. A finding does not stop the run: the test fails at the end with a table of all of
them. For long runs, `python -m tests.fuzz` (see tests/fuzz/__main__.py).

Root only; run it in the sandbox: /work/shared/tools/sandbox .venv/bin/python -m pytest -m fuzz
"""

import os

import pytest

from tests.fuzz.campaign import findings_of, new_id, run_plans, summary
from tests.fuzz.harness import Result
from tests.fuzz.oddities import MUST_REFUSE, ODDITIES

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("PYRUN_FUZZ_EXAMPLES", "300"))
SEED = int(os.environ.get("PYRUN_FUZZ_SEED", "20240601"))


def describe(res: Result) -> str:
    return (f"{res.case.label}\nexit status: {res.rc}\nstderr: {res.stderr[:2000]!r}\n"
            + "\n".join(f"{f.kind}: {f.detail}" for f in res.findings))


@pytest.mark.parametrize("command, examples, seed", [
    ("create", EXAMPLES, SEED), ("run", max(1, EXAMPLES // 4), SEED + 1)])
def test_generated_configs(fuzz_session, command, examples, seed):
    results = run_plans(fuzz_session, command, examples, seed=seed)
    assert len(results) == examples
    assert not findings_of(results), summary(results)


@pytest.mark.parametrize("name", sorted(ODDITIES))
def test_pathological_input(fuzz_session, name):
    res = fuzz_session.run(ODDITIES[name](new_id()))
    assert not res.findings, describe(res)
    if name in MUST_REFUSE:
        assert res.rc == 1, f"accepted, must be refused: {describe(res)}"


def test_default_config_is_accepted(fuzz_session):
    """The control: the unmutated base config is created and deleted without a word, so
    each finding above is the mutation's doing."""
    from tests.fuzz.harness import Case
    from tests.fuzz.mutations import Plan, base_doc

    for command in ("create", "run"):
        cid = new_id()
        plan = Plan(command, base_doc(command))
        res = fuzz_session.run(Case(cid, config=lambda d, p=plan, c=cid: p.render(d, c),
                                    command=command))
        assert (res.rc, res.stderr, res.findings) == (0, "", []), describe(res)

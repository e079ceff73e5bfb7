"""Regression tests of the fuzzer's findings: one case per tests/fuzz/findings/NNN-*.json.

Each file is a config.json (placeholders such as @ID@ and @HOOKS@ filled in per case, see
tests/fuzz/mutations.py); `FINDINGS` below says how to run it (create or run, and for a few,
what to put in place of config.json or the rootfs) and what pyrun must do: accept it,
refuse it (naming one of `keywords` in its error line), or either. Whatever the outcome,
the harness's rules hold: exit 0 or one `pyrun: CMD ID: ...` line with status 1, no
traceback, internal error or Python exception name, nothing left behind.
tests/fuzz/findings/README.md says what pyrun did when each was found, and what runc does.

Each failed when found; all pass now, and keep them fixed.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fuzz.campaign import new_id
from tests.fuzz.harness import Case, CaseDir, Result
from tests.fuzz.mutations import parse_like_pyrun, resolve, sanitize

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(120)]

FINDINGS_DIR = Path(__file__).parent / "findings"


def fifo(d: CaseDir):
    d.config.unlink()
    os.mkfifo(d.config)


def dev_zero(d: CaseDir):
    d.config.unlink()
    os.symlink("/dev/zero", d.config)


def rootfs_out_of_bundle(d: CaseDir):
    outside = d.path / "outside-rootfs"
    d.rootfs.rename(outside)
    os.symlink(outside, d.rootfs)


@dataclass(frozen=True)
class Expect:
    must: str = "either"  # "accept", "refuse" or "either"
    keywords: tuple[str, ...] = ()  # when refused: one must be in the line (any case)
    command: str = "create"
    setup: object = None  # called with the CaseDir once config.json is written
    timeout: float = 20.0  # seconds before it counts as hung


FINDINGS = {
    "001-cgroup-nested-path-left-behind": Expect("accept"),
    "002-cgroup-failed-mkdir-left-behind": Expect("refuse", ("cgroup",)),
    "003-config-fifo-hangs": Expect("refuse", ("config.json",), setup=fifo, timeout=5),
    "004-config-dev-zero-eats-memory": Expect("refuse", ("config.json",), setup=dev_zero),
    "005-init-error-over-64k-truncated": Expect("refuse", ("hostname",)),
    "006-nesting-1000-recursion-error": Expect(),
    "007-nul-in-args": Expect("refuse", ("args", "nul"), command="run"),
    "008-nul-in-env": Expect("refuse", ("env", "nul"), command="run"),
    "009-nul-in-hostname": Expect(),
    "010-nul-in-cwd": Expect("refuse", ("cwd", "nul")),
    "011-nul-in-masked-path": Expect("refuse", ("maskedPaths", "nul")),
    "012-nul-in-mount-destination": Expect("refuse", ("destination", "nul")),
    "013-nul-in-cgroups-path": Expect("refuse", ("cgroupsPath", "nul")),
    "014-nul-in-sysctl-key": Expect("refuse", ("sysctl", "nul")),
    "015-surrogate-in-mount-destination": Expect(),
    "016-surrogate-in-cwd": Expect(),
    "017-surrogate-in-hostname": Expect(),
    "018-surrogate-in-env": Expect(command="run"),
    "019-surrogate-in-sysctl-value": Expect(),
    "020-surrogate-in-cgroups-path": Expect(),
    "021-hook-timeout-overflow": Expect(),
    "022-too-many-additional-gids": Expect("refuse", ("additionalGids", "groups")),
    "023-nul-in-mount-options-truncated": Expect("refuse", ("options", "nul")),
    "024-nul-in-mount-type-truncated": Expect("refuse", ("type", "nul")),
    "025-rootfs-symlink-out-of-bundle": Expect("refuse", ("root", "rootfs"),
                                               setup=rootfs_out_of_bundle),
    "026-memory-limit-kills-init-unclear": Expect("refuse", ("memory", "oom", "killed")),
    "027-control-chars-echoed": Expect(),
    "028-long-value-echoed": Expect(),
    "029-warning-split-over-lines": Expect("accept"),
}

FILES = sorted(p.stem for p in FINDINGS_DIR.glob("*.json"))


def test_every_finding_file_has_an_expectation():
    assert set(FILES) == set(FINDINGS), "tests/fuzz/findings and FINDINGS disagree"


def render(text: str, d: CaseDir, cid: str, command: str) -> bytes:
    """The file's text with its placeholders filled in; checked harmless by the fuzzer's
    own rules (a finding file must not need sanitizing)."""
    # Placeholders sit inside JSON strings and resolve to plain ASCII: replace as text, so
    # that files Python's json cannot load (deep nesting) work too.
    out = resolve(text, d, cid)
    doc = parse_like_pyrun(out.encode("utf-8", "surrogatepass"))
    if doc is not None:
        assert not sanitize(doc, d, cid, command), "finding file is not safe as it is"
    return out.encode("utf-8", "surrogatepass")


def describe(res: Result) -> str:
    return (f"exit status: {res.rc}\nstderr: {res.stderr[:2000]!r}\n"
            + "\n".join(f"{f.kind}: {f.detail}" for f in res.findings))


@pytest.mark.parametrize("name", FILES)
def test_finding(fuzz_session, name):
    expect = FINDINGS[name]
    text = (FINDINGS_DIR / f"{name}.json").read_text()
    cid = new_id()

    def write(d: CaseDir):
        d.config.write_bytes(render(text, d, cid, expect.command))
        if expect.setup is not None:
            expect.setup(d)

    res = fuzz_session.run(Case(cid, prepare=write, command=expect.command, label=name,
                                timeout=expect.timeout))

    assert not res.findings, describe(res)
    if expect.must == "accept":
        assert res.rc == 0, describe(res)
    elif expect.must == "refuse":
        assert res.rc == 1, describe(res)
        line = res.first_line.replace(cid, "ID").lower()
        assert any(k.lower() in line for k in expect.keywords), \
            f"the error line names none of {expect.keywords}: {res.first_line!r}"


def test_finding_files_are_json_or_deliberately_not():
    """Every file is JSON that Python loads, but the one whose point is its nesting."""
    for name in FILES:
        try:
            json.loads((FINDINGS_DIR / f"{name}.json").read_text())
        except RecursionError:
            assert "nesting" in name, name

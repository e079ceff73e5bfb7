"""pyrun.errors: every message the user sees is one printable line of bounded length."""

from pyrun.errors import MAX_LINE, one_line


def test_plain_text_is_unchanged():
    assert one_line("create c1: config.json: process.cwd: missing") == \
        "create c1: config.json: process.cwd: missing"


def test_line_breaks_escapes_and_surrogates_are_escaped():
    text = 'unknown capability "CAP_X\npyrun: create c1: forged"\x1b[2J\a\ud800\u2028é\ttab'
    out = one_line(text)
    assert out == ('unknown capability "CAP_X\\npyrun: create c1: forged"\\x1b[2J\\x07'
                   '\\ud800\\u2028é\ttab')
    assert out.isprintable() or "\t" in out
    out.encode()  # printable to any UTF-8 stream


def test_an_overlong_message_keeps_both_ends():
    out = one_line("create " + "x" * 10000 + ": longer than 1024 characters")
    assert len(out) <= MAX_LINE + 60
    assert out.startswith("create xxx") and out.endswith(": longer than 1024 characters")
    assert "characters left out" in out
